import { render } from 'ink';
import { createElement } from 'react';
import { homePaths } from '../../state/paths.js';
import { decide } from '../decide.js';
import { listAllPending } from '../queue.js';
import { SuperviseConsole, type ConsoleDeps } from './App.js';
import { editInEditor } from './editor.js';
import { watchQueueRoot } from './watch.js';

export function consoleDeps(home: string): ConsoleDeps {
  const queueRoot = homePaths(home).queueRoot;
  return {
    load: () => listAllPending(queueRoot),
    decide: (id, decision) => decide(home, id, decision),
    edit: (proposal) => editInEditor(proposal),
    subscribe: (onChange) => watchQueueRoot(queueRoot, onChange),
  };
}

/** The interactive console; resolves when the operator quits. */
export async function runConsole(home: string): Promise<void> {
  const app = render(createElement(SuperviseConsole, consoleDeps(home)));
  await app.waitUntilExit();
}
