/** Every CLI sub-command module registers itself on the program; order is the order in `dke --help`. */
import type { Command } from 'commander';
import { registerKeygen } from './keygen.js';
import { registerEncrypt } from './encrypt.js';
import { registerDecrypt } from './decrypt.js';
import { registerInspect } from './inspect.js';
import { registerServe } from './serve.js';
import { registerKey } from './key.js';
import { registerAudit } from './audit.js';

export type RegisterCommand = (program: Command) => void;

export const commandModules: RegisterCommand[] = [
  registerKeygen,
  registerEncrypt,
  registerDecrypt,
  registerInspect,
  registerServe,
  registerKey,
  registerAudit,
];
