/** Every CLI sub-command module registers itself on the program; order is the order in `dke --help`. */
import type { Command } from 'commander';

export type RegisterCommand = (program: Command) => void;

export const commandModules: RegisterCommand[] = [];
