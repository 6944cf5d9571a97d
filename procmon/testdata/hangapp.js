// hangapp.js: the Node twin of hangapp.py for procmon's heartbeat tests:
// one event loop serving HTTP on fd 3 (the shared socket).
//
//   GET /                          ok
//   GET /hang?worker=N&how=spin    the worker with WORKER_ID N blocks its
//                                  event loop in this handler, forever: a
//                                  busy loop (how=spin) or one that
//                                  allocates as it spins (how=alloc, which
//                                  keeps V8's GC threads busy too); any
//                                  other worker answers 409 at once
'use strict';

const http = require('http');

const label = `gen=${process.env.PROCMON_GENERATION} worker=${process.env.WORKER_ID} pid=${process.pid}`;

function answer(res, code, text) {
  res.writeHead(code, { 'X-Worker': label, 'Content-Type': 'text/plain' });
  res.end(text + '\n');
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/hang') {
    if (url.searchParams.get('worker') !== process.env.WORKER_ID) return answer(res, 409, 'not me: ' + label);
    const how = url.searchParams.get('how') || 'spin';
    console.log(`hanging in a handler (${how}), as asked`);
    let junk = [];
    for (;;) {
      if (how === 'alloc') {
        junk.push({ n: Math.random(), s: 'x'.repeat(64) });
        if (junk.length > 100000) junk = [];
      }
    }
  }
  answer(res, 200, 'ok ' + label);
});
server.listen({ fd: 3 }, () => console.log('serving on fd 3'));
