import { Box, Text, useApp, useInput, useStdin, type Key } from 'ink';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { Decision, DecideResult } from '../decide.js';
import type { Proposal } from '../queue.js';
import { printable, summary, tokenFindings } from '../summary.js';

export interface ConsoleDeps {
  /** Pending proposals across bottles, oldest first. */
  load: () => Promise<Proposal[]>;
  decide: (id: string, decision: Decision) => Promise<DecideResult>;
  /** Opens the details in an editor; undefined when the operator aborted (empty file, no change). */
  edit: (proposal: Proposal) => Promise<Record<string, unknown> | undefined>;
  /** Calls onChange whenever the queue may have changed; returns an unsubscribe. */
  subscribe: (onChange: () => void) => () => void;
}

type Mode = { view: 'list' } | { view: 'detail'; id: string } | { view: 'reason'; id: string; text: string; back: 'list' | 'detail' };

export function SuperviseConsole(deps: ConsoleDeps): React.JSX.Element {
  const { exit } = useApp();
  const { setRawMode, isRawModeSupported } = useStdin();
  const [items, setItems] = useState<Proposal[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [cursor, setCursor] = useState(0);
  const [mode, setMode] = useState<Mode>({ view: 'list' });
  const [message, setMessage] = useState<string>('');
  const [busy, setBusy] = useState(false);

  const refresh = useCallback(async () => {
    try {
      const next = await deps.load();
      setItems(next);
      setLoaded(true);
      setCursor((c) => Math.min(c, Math.max(0, next.length - 1)));
    } catch (err) {
      setMessage(`cannot read the queue: ${(err as Error).message}`);
    }
  }, [deps]);

  useEffect(() => {
    void refresh();
    return deps.subscribe(() => void refresh());
  }, [deps, refresh]);

  const selected = mode.view === 'list' ? items[cursor] : items.find((p) => p.id === mode.id);

  // The proposal left the queue (answered elsewhere, timed out): go back to the list.
  useEffect(() => {
    if (mode.view !== 'list' && loaded && !items.some((p) => p.id === mode.id)) {
      setMode({ view: 'list' });
      setMessage(`proposal ${mode.id} is no longer pending`);
    }
  }, [items, loaded, mode]);

  async function run(id: string, decision: Decision): Promise<void> {
    setBusy(true);
    try {
      const res = await deps.decide(id, decision);
      setMessage(
        res.outcome === 'late'
          ? `${id}: too late, the proposal had timed out (recorded, not applied)`
          : `${id}: ${res.answer.status}${res.applied.applied ? `. ${res.applied.summary}` : ''}`,
      );
      setMode({ view: 'list' });
    } catch (err) {
      setMessage(`${id}: ${(err as Error).message}`);
    } finally {
      setBusy(false);
      await refresh();
    }
  }

  async function editThenApprove(p: Proposal): Promise<void> {
    // The editor needs the terminal in cooked mode; ink gets it back afterwards.
    if (isRawModeSupported) setRawMode(false);
    let edited: Record<string, unknown> | undefined;
    try {
      edited = await deps.edit(p);
    } catch (err) {
      setMessage(`${p.id}: edit failed: ${(err as Error).message}`);
      return;
    } finally {
      if (isRawModeSupported) setRawMode(true);
    }
    if (!edited) {
      setMessage(`${p.id}: edit aborted, nothing answered`);
      return;
    }
    await run(p.id, { status: 'modified', details: edited, notes: 'modified by the operator' });
  }

  function onKey(input: string, key: Key): void {
    if (busy) return;
    if (mode.view === 'reason') {
      if (key.escape) setMode(mode.back === 'detail' ? { view: 'detail', id: mode.id } : { view: 'list' });
      else if (key.return) {
        if (!mode.text.trim()) setMessage('type a reason before pressing enter (esc cancels)');
        else void run(mode.id, { status: 'rejected', notes: mode.text.trim() });
      } else if (key.backspace || key.delete) setMode((m) => (m.view === 'reason' ? { ...m, text: m.text.slice(0, -1) } : m));
      else if (input && !key.ctrl && !key.meta) setMode((m) => (m.view === 'reason' ? { ...m, text: m.text + input } : m));
      return;
    }
    if (input === 'q') {
      exit();
      return;
    }
    if (mode.view === 'list') {
      if (key.downArrow || input === 'j') setCursor((c) => Math.min(c + 1, Math.max(0, items.length - 1)));
      else if (key.upArrow || input === 'k') setCursor((c) => Math.max(0, c - 1));
      else if (key.return && selected) setMode({ view: 'detail', id: selected.id });
    } else if (key.escape || key.leftArrow || key.backspace) {
      setMode({ view: 'list' });
      return;
    }
    if (!selected) return;
    if (input === 'a') void run(selected.id, { status: 'approved' });
    else if (input === 'o') {
      if (selected.kind === 'egress-token-allow') void run(selected.id, { status: 'approved', scope: 'once' });
      else setMessage(`${selected.id}: "once" is for flagged values (egress-token-allow); use a to approve`);
    }
    else if (input === 'e') void editThenApprove(selected);
    else if (input === 'r') setMode({ view: 'reason', id: selected.id, text: '', back: mode.view === 'detail' ? 'detail' : 'list' });
  }

  // ink re-subscribes a changed handler only after the next commit; reading the
  // latest one through a ref means a fast keystroke never sees stale state.
  const onKeyRef = useRef(onKey);
  onKeyRef.current = onKey;
  useInput((input, key) => onKeyRef.current(input, key));

  return (
    <Box flexDirection="column">
      <Text bold>bot-bottle supervise: {items.length} pending</Text>
      {mode.view === 'list' ? (
        <ListView items={items} cursor={cursor} loaded={loaded} />
      ) : selected ? (
        <DetailView proposal={selected} />
      ) : null}
      {mode.view === 'reason' ? (
        <Text>
          Reason for rejecting {mode.id}: {mode.text}
          <Text inverse> </Text>
        </Text>
      ) : null}
      {message ? <Text color="yellow">{message}</Text> : null}
      <Text dimColor>
        {mode.view === 'reason'
          ? 'enter reject  esc cancel'
          : `${mode.view === 'list' ? 'j/k move  enter details  ' : ''}${selected?.kind === 'egress-token-allow' ? 'a allow for this bottle  o allow once' : 'a approve  e edit+approve'}  r reject  ${mode.view === 'detail' ? 'esc back  ' : ''}q quit`}
      </Text>
    </Box>
  );
}

function ListView({ items, cursor, loaded }: { items: Proposal[]; cursor: number; loaded: boolean }): React.JSX.Element {
  if (!loaded) return <Text>loading…</Text>;
  if (items.length === 0) return <Text dimColor>nothing pending</Text>;
  return (
    <Box flexDirection="column">
      {items.map((p, i) => (
        <Text key={p.id} {...(i === cursor ? { inverse: true } : {})}>
          {i === cursor ? '>' : ' '} {p.id} {p.slug.padEnd(12)} {p.kind.padEnd(18)} {summary(p)}
        </Text>
      ))}
    </Box>
  );
}

function DetailView({ proposal }: { proposal: Proposal }): React.JSX.Element {
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1}>
      <Text>
        <Text bold>{proposal.kind}</Text> from bottle <Text bold>{proposal.slug}</Text> ({proposal.id})
      </Text>
      <Text dimColor>
        created {proposal.created_at}
        {proposal.timeout_at ? `, times out ${proposal.timeout_at}` : ''}
      </Text>
      {proposal.kind === 'egress-token-allow' ? <TokenAllowView proposal={proposal} /> : <Text>{printable(JSON.stringify(proposal.details, null, 2), { keepNewlines: true })}</Text>}
    </Box>
  );
}

/** A held request: what was flagged, where, whose, and the text around it (the value itself is never in the proposal). */
function TokenAllowView({ proposal }: { proposal: Proposal }): React.JSX.Element {
  const d = proposal.details;
  const str = (k: string): string => (typeof d[k] === 'string' ? d[k] : '');
  return (
    <Box flexDirection="column">
      <Text>{printable(`held: ${str('method')} ${str('host')}${str('path')}`)}</Text>
      {tokenFindings(proposal).map((f, i) => (
        <Box key={i} flexDirection="column" marginTop={1}>
          <Text>
            <Text bold>{printable(`${f.detector}/${f.rule}`)}</Text>
            {printable(` in ${f.where}${f.length !== undefined ? `, ${f.length} chars` : ''}${f.encoding ? `, seen ${f.encoding}` : ''}`)}
          </Text>
          {f.belongs_to?.length ? <Text>{printable(`belongs to: ${f.belongs_to.join('; ')}`)}</Text> : null}
          <Text dimColor>{printable(`context: ${f.context}`)}</Text>
        </Box>
      ))}
      <Text dimColor>a: allow these values to this host for the rest of the bottle (every connection)  o: allow this request only  r: reject</Text>
    </Box>
  );
}
