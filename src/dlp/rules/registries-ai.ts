import { validCrc32Token } from '../checksum.js';
import type { TokenRule } from './types.js';

const END = '(?![A-Za-z0-9_])';

export const registryAndAiRules: TokenRule[] = [
  { id: 'npm-token', anchors: ['npm_'], re: new RegExp(`npm_[A-Za-z0-9]{36}${END}`, 'y'), minRun: 40, validate: (v) => validCrc32Token(v, 4) },
  { id: 'pypi-token', anchors: ['pypi-'], re: /pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,1000}/y },
  { id: 'rubygems-token', anchors: ['rubygems_'], re: new RegExp(`rubygems_[a-f0-9]{48}${END}`, 'y'), minRun: 57 },
  { id: 'nuget-api-key', anchors: ['oy2'], re: new RegExp(`oy2[a-z0-9]{43}${END}`, 'y'), minRun: 46 },
  { id: 'dockerhub-pat', anchors: ['dckr_pat_', 'dckr_oat_'], re: /dckr_[po]at_[A-Za-z0-9_-]{27,40}(?![A-Za-z0-9_-])/y },
  { id: 'crates-io-token', anchors: ['cio'], re: new RegExp(`cio[a-zA-Z0-9]{32}${END}`, 'y'), minRun: 35 },
  { id: 'terraform-cloud-token', anchors: ['atlasv1.'], quick: (text, at) => text.charCodeAt(at - 1) === 46, before: /[A-Za-z0-9]{14}\.$/, re: /[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9=_-]{60,70}/y },
  {
    id: 'anthropic-api-key',
    anchors: ['sk-ant-'],
    re: /sk-ant-(?:api|admin|sid|oat|ort)[0-9]{2}-[A-Za-z0-9_-]{80,120}(?![A-Za-z0-9_-])/y,
    minRun: 2,
  },
  {
    id: 'openai-api-key',
    anchors: ['sk-'],
    // Current keys carry the base64 of "OpenAI" (T3BlbkFJ) mid-key; project/service/admin keys may not.
    re: /sk-(?:(?:proj|svcacct|admin|None)-)?[A-Za-z0-9_-]{20,150}T3BlbkFJ[A-Za-z0-9_-]{20,150}(?![A-Za-z0-9_-])/y,
    minRun: 2,
  },
  { id: 'openai-project-key', anchors: ['sk-proj-', 'sk-svcacct-', 'sk-admin-'], re: /sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{48,250}(?![A-Za-z0-9_-])/y, minRun: 2 },
  { id: 'huggingface-token', anchors: ['hf_', 'api_org_'], re: new RegExp(`(?:hf_|api_org_)[A-Za-z]{34}${END}`, 'y'), minRun: 37 },
  { id: 'groq-api-key', anchors: ['gsk_'], re: new RegExp(`gsk_[A-Za-z0-9]{52}${END}`, 'y'), minRun: 56 },
  { id: 'replicate-api-token', anchors: ['r8_'], re: new RegExp(`r8_[A-Za-z0-9]{37}${END}`, 'y'), minRun: 40 },
  { id: 'perplexity-api-key', anchors: ['pplx-'], re: /pplx-[A-Za-z0-9]{48}(?![A-Za-z0-9_])/y },
  { id: 'xai-api-key', anchors: ['xai-'], re: /xai-[A-Za-z0-9]{80}(?![A-Za-z0-9_])/y },
  ...(
    [
      ['cohere-api-key', 'cohere', 40],
      ['mistral-api-key', 'mistral', 32],
      ['deepseek-api-key', 'deepseek', 32],
      ['together-api-key', 'together', 64],
    ] as const
  ).map(
    ([id, kw, len]): TokenRule => ({
      id,
      anchors: [kw, kw.toUpperCase(), kw[0]?.toUpperCase() + kw.slice(1)],
      // Keyword-assigned: `COHERE_API_KEY="..."`, `cohere: ...`. The value itself has no prefix.
      re: new RegExp(`${kw}[\\w.-]{0,20}["']?\\s{0,4}[:=]{1,2}\\s{0,4}["']?(?:sk-|Bearer )?([A-Za-z0-9]{${len}})(?![A-Za-z0-9])`, 'iy'),
      group: 1,
      validate: (v) => /[0-9]/.test(v) && /[A-Za-z]/.test(v),
    }),
  ),
];
