// node-hello: the Node sample app for deploy and procmon. No dependencies.
//
//   GET /            hello from <version>
//   GET /health      ok
//   GET /slow?ms=N   headers at once, body after N ms (at most 10 s): watch a
//                    reload drain a request in flight
//
// Listens on HOST:PORT (default 127.0.0.1:8080; procmon gives each worker its
// own PORT in proxy mode), or on fd 3 when a socket is passed the systemd way
// (LISTEN_FDS=1 and LISTEN_PID equal to this pid). On SIGTERM or SIGINT it
// stops accepting, lets requests in flight finish (up to 25 s) and exits 0;
// a second signal exits at once.
//
// The version is the first of: a VERSION file, the REVISION file deploy
// writes into each release (the full commit sha), $APP_VERSION, "unknown";
// files are looked for in the working directory, then next to this file.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');

const DRAIN_MS = 25000; // below procmon's default stop_timeout of 30 s
const MAX_SLOW_MS = 10000;

function readVersion() {
  for (const name of ['VERSION', 'REVISION']) {
    for (const dir of [process.cwd(), __dirname]) {
      try {
        const v = fs.readFileSync(path.join(dir, name), 'utf8').trim();
        if (v) return v;
      } catch (err) {
        if (err.code !== 'ENOENT') throw err;
      }
    }
  }
  return process.env.APP_VERSION || 'unknown';
}

function handler(version) {
  return (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'Content-Type': 'text/plain', Allow: 'GET, HEAD' });
      return res.end('method not allowed\n');
    }
    switch (url.pathname) {
      case '/':
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        return res.end(`hello from ${version}\n`);
      case '/health':
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        return res.end('ok\n');
      case '/slow':
        return slow(url, req, res);
      default:
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
        return res.end('not found\n');
    }
  };
}

// slow sends the headers at once and the body later, so a client that has
// seen the headers knows its request is in flight.
function slow(url, req, res) {
  let ms = 1000;
  const q = url.searchParams.get('ms');
  if (q !== null) {
    if (!/^[0-9]+$/.test(q)) {
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
      return res.end('ms must be a whole number of milliseconds, e.g. /slow?ms=500\n');
    }
    ms = Math.min(Number(q), MAX_SLOW_MS);
  }
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.flushHeaders();
  const timer = setTimeout(() => res.end(`slow done after ${ms}ms\n`), ms);
  req.on('close', () => { if (!res.writableEnded) clearTimeout(timer); });
}

// listenTarget is fd 3 when a socket was passed to this very process,
// else HOST:PORT.
function listenTarget() {
  const env = process.env;
  if (env.LISTEN_FDS && env.LISTEN_PID === String(process.pid)) {
    if (env.LISTEN_FDS !== '1') {
      throw new Error(`LISTEN_FDS=${env.LISTEN_FDS}: node-hello serves exactly one socket; pass one`);
    }
    delete env.LISTEN_FDS; delete env.LISTEN_PID; delete env.LISTEN_FDNAMES;
    return { fd: 3 };
  }
  const port = env.PORT || '8080';
  if (!/^[0-9]+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new Error(`PORT=${JSON.stringify(port)} is not a port number: set PORT to 1-65535`);
  }
  return { host: env.HOST || '127.0.0.1', port: Number(port) };
}

function main() {
  const version = readVersion();
  const server = http.createServer(handler(version));
  server.keepAliveTimeout = 5000;
  const target = listenTarget();
  server.on('error', (err) => {
    console.error(`node-hello: error: ${err.message} (set PORT to a free port)`);
    process.exit(1);
  });
  server.listen(target, () => {
    const where = target.fd !== undefined ? 'fd 3 (socket activation)' : `${target.host}:${target.port}`;
    console.log(`node-hello ${version} serving on ${where} (pid ${process.pid})`);
  });

  let stopping = false;
  const stop = (sig) => {
    if (stopping) {
      console.error(`node-hello: second ${sig}: exiting now`);
      process.exit(1);
    }
    stopping = true;
    console.log(`node-hello: ${sig}: finishing requests in flight (up to ${DRAIN_MS / 1000}s)`);
    // close() stops accepting and calls back once every connection is gone;
    // idle keep-alive connections are closed now, busy ones after their
    // response (Node >= 19 does this itself; older ones need the calls).
    server.close(() => {
      console.log('node-hello: stopped');
      process.exit(0);
    });
    if (server.closeIdleConnections) server.closeIdleConnections();
    // Requests still arriving on open connections are answered with
    // Connection: close. The listener must run before the handler: after
    // it, the headers are sent and setHeader throws ERR_HTTP_HEADERS_SENT,
    // which crashed the worker mid-drain and cut the requests in flight.
    server.prependListener('request', (req, res) => res.setHeader('Connection', 'close'));
    setTimeout(() => {
      console.error('node-hello: drain timed out; exiting with requests still open');
      process.exit(1);
    }, DRAIN_MS).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main();
