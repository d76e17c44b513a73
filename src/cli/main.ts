#!/usr/bin/env node
// STUB (owner: config/CLI helper): start | validate | version | sync | dump
import { VERSION } from '../core/version.js';

const [cmd] = process.argv.slice(2);
if (cmd === 'version') console.log(VERSION);
else {
  console.error('usage: switchyard start|validate|version|sync|dump');
  process.exitCode = 2;
}
