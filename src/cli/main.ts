import { Command } from '@commander-js/extra-typings';
import { registerScan } from './commands/scan.js';
import { registerSidecars } from './commands/sidecars.js';

const program = new Command('bot-bottle').description('run an AI agent in a bottle it cannot leave');
registerScan(program);
registerSidecars(program);
await program.parseAsync();
