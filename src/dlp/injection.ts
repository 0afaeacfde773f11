// naive_injection_detection: phrase heuristics on upstream responses, after
// NFKC normalisation and removal of invisible chars. High-confidence phrases
// block; softer jailbreak vocabulary only warns.
import { normalizeWithMap } from './views.js';

interface InjectionRule {
  id: string;
  severity: 'block' | 'warn';
  re: RegExp;
}

const W = '[\\s\\p{P}]{1,6}';
const RULES: InjectionRule[] = [
  {
    id: 'injection-ignore-previous',
    severity: 'block',
    re: new RegExp(`\\b(?:ignore|disregard|forget|override|bypass)${W}(?:all${W}|any${W}|the${W}|your${W}|of${W}){0,3}(?:previous|prior|preceding|above|earlier|original|system|safety)${W}(?:instructions|prompts?|rules|directives|guidelines|messages|context)\\b`, 'giu'),
  },
  {
    id: 'injection-fake-role-tag',
    severity: 'block',
    re: /<\|?\s{0,3}\/?\s{0,3}(?:system|im_start|im_end|tool_call|tool_calls|function_calls|function_call|tool_use|tool_result|assistant|antml:[a-z_]{1,30}|invoke)\b[^<>\n]{0,80}\|?>|\[\/?(?:SYSTEM|INST)\]|<<\/?SYS>>/giu,
  },
  {
    id: 'injection-exfiltrate-credentials',
    severity: 'block',
    re: new RegExp(
      `\\b(?:send|post|upload|exfiltrate|leak|forward|transmit|email|curl|paste|include|append|encode)\\b[^\\n]{0,80}\\b(?:api[\\s_-]?keys?|tokens?|credentials?|secrets?|passwords?|private[\\s_-]?keys?|ssh[\\s_-]?keys?|env(?:ironment)?[\\s_-]?(?:vars?|variables)|\\.env|aws_secret|cookies?)\\b[^\\n]{0,80}\\b(?:to|into|at|via)\\b[^\\n]{0,40}(?:https?:\\/\\/|webhook|server|url|endpoint|@)`,
      'giu',
    ),
  },
  {
    id: 'injection-reveal-credentials',
    severity: 'block',
    re: new RegExp(`\\b(?:print|reveal|show|output|echo|cat|dump|display)\\b${W}(?:me${W}|out${W})?(?:all${W}|your${W}|the${W}){0,2}(?:api${W}keys?|tokens|credentials|secrets|passwords|~\\/\\.ssh|\\.env\\b|environment variables|env vars)\\b[^\\n]{0,60}\\b(?:and|then)\\b[^\\n]{0,40}\\b(?:send|post|include|paste|upload)`, 'giu'),
  },
  {
    id: 'injection-new-instructions',
    severity: 'warn',
    re: /\b(?:new|updated|real|actual|hidden)\s{1,3}(?:instructions|system prompt|directives)\s{0,3}:|\byou are now\b|\bfrom now on,? you\b|\bdeveloper mode\b|\bdo anything now\b|\bjailbr(?:eak|oken)\b|\bact as (?:an? )?(?:unrestricted|unfiltered|dan)\b|\bpretend (?:that )?you (?:have no|are not bound)/giu,
  },
];

export interface InjectionHit {
  rule: string;
  severity: 'block' | 'warn';
  start: number;
  end: number;
  value: string;
}

export function detectInjection(text: string): InjectionHit[] {
  // eslint-disable-next-line no-control-regex
  const ascii = /^[\x00-\x7f]*$/.test(text);
  const { text: norm, map } = ascii ? { text, map: null } : normalizeWithMap(text);
  const out: InjectionHit[] = [];
  for (const rule of RULES) {
    rule.re.lastIndex = 0;
    for (const m of norm.matchAll(rule.re)) {
      const s = m.index;
      const e = s + m[0].length;
      out.push({ rule: rule.id, severity: rule.severity, start: map ? (map[s] ?? 0) : s, end: map ? (map[e] ?? text.length) : e, value: m[0] });
    }
  }
  return out;
}
