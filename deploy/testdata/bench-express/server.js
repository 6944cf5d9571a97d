// bench-express: the Express app BenchmarkBuildCache deploys (72 npm
// packages from the registry, pinned by package-lock.json).
'use strict';

const express = require('express');

const app = express();
app.get('/', (req, res) => res.send('hello from bench-express\n'));
app.get('/health', (req, res) => res.send('ok\n'));
app.listen(Number(process.env.PORT || 8080), process.env.HOST || '127.0.0.1');
