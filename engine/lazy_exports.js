'use strict';
// Preloaded into jsii's node process by engine/loader.py (NODE_OPTIONS=--require), never in the
// plain path. When jsii loads the prebuilt AWS provider it requires the package's lib/index.js,
// which requires all ~2,200 resource modules (seconds of node CPU). This rewrites each
// `exports.x = require("./x");` line of that one file into a getter that requires on first
// use, which is how jsii reaches a type (closure.vpc.Vpc). A line it does not recognise aborts
// the load with an error naming it: the layout changed and engine/ must be re-verified.
const Module = require('module');
const fs = require('fs');
const path = require('path');

const packages = JSON.parse(process.env.ECS_ENGINE_LAZY_EXPORTS || '[]');
const report = process.env.ECS_ENGINE_LAZY_REPORT;
const EXPORT = /^exports\.([A-Za-z_$][\w$]*) = (__importStar\()?require\(("\.\/[^"]+")\)\)?;$/;
const compile = Module.prototype._compile;

Module.prototype._compile = function compileLazily(content, filename) {
  const target = packages.find((p) => filename.endsWith(path.join('node_modules', p, 'lib', 'index.js')));
  return compile.call(this, target ? lazyExports(content, filename, target) : content, filename);
};

function lazyExports(content, filename, target) {
  let count = 0;
  const lines = content.split('\n').map((line) => {
    const m = EXPORT.exec(line);
    if (!m) {
      if (/\brequire\(/.test(line) && !line.startsWith('//# sourceMappingURL=')) {
        throw new Error(`engine/lazy_exports.js: unexpected line in ${filename}: ` +
          `${line.slice(0, 160)}; re-verify engine/ for this provider version, or set ECS_ENGINE_PLAIN=1`);
      }
      return line;
    }
    count += 1;
    const name = JSON.stringify(m[1]);
    const load = m[2] ? `__importStar(require(${m[3]}))` : `require(${m[3]})`;
    return `Object.defineProperty(exports, ${name}, { enumerable: true, configurable: true, ` +
      `get() { const v = ${load}; Object.defineProperty(exports, ${name}, ` +
      `{ value: v, enumerable: true, writable: true, configurable: true }); return v; } });`;
  });
  if (count < 100) {
    throw new Error(`engine/lazy_exports.js: only ${count} submodule exports in ${filename}; ` +
      're-verify engine/ for this provider version, or set ECS_ENGINE_PLAIN=1');
  }
  if (report) fs.appendFileSync(report, `${target} ${count}\n`);
  return lines.join('\n');
}
