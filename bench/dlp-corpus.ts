// The labelled corpus of `npm run bench:dlp-quality`: synthetic credentials in
// each vendor's documented shape (checksums where the format has one), planted
// in realistic files (config, code, CI, logs, HTTP), the same credentials
// encoded or disguised, and look-alikes that hold no credential (hashes, UUIDs,
// lockfile integrity, SRI, placeholders, references, public keys, encrypted
// blobs). Everything comes from one seed: tune on one seed, report on another,
// and a reader can draw a corpus nobody has tuned on.
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { base62, crc32 } from '../src/dlp/checksum.js';

export type Kind = 'plain' | 'evasion' | 'negative';

export interface Sample {
  kind: Kind;
  /** Vendor family (positives) or look-alike kind (negatives). */
  family: string;
  /** The file shape or the evasion. */
  shape: string;
  text: string;
  /** 1-based lines of the sample that hold the credential (positives); [0, 0] for negatives. */
  at: [number, number];
}

// ---------------------------------------------------------------- randomness

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  /** mulberry32 */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  chars(n: number, alphabet: string): string {
    let out = '';
    for (let i = 0; i < n; i++) out += alphabet[Math.floor(this.next() * alphabet.length)];
    return out;
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return xs;
  }
}

const UP = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LO = 'abcdefghijklmnopqrstuvwxyz';
const DIG = '0123456789';
const ALNUM = UP + LO + DIG;
const HEXL = '0123456789abcdef';
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const B64 = ALNUM + '+/';
const B64URL = ALNUM + '-_';
const LOWNUM = LO + DIG;
const UPNUM = UP + DIG;

const j = (...p: string[]): string => p.join('');
const uuid = (r: Rng): string => `${r.chars(8, HEXL)}-${r.chars(4, HEXL)}-4${r.chars(3, HEXL)}-${r.pick(['8', '9', 'a', 'b'])}${r.chars(3, HEXL)}-${r.chars(12, HEXL)}`;
const b64bytes = (r: Rng, n: number): string => Buffer.from(Array.from({ length: n }, () => r.int(0, 255))).toString('base64');
const crcToken = (r: Rng, prefix: string): string => {
  const body = r.chars(30, ALNUM);
  return prefix + body + base62(crc32(body), 6);
};

// ---------------------------------------------------------------- key names

/** A key name as words, rendered in the style of the file it lands in. */
type Words = readonly string[];
type Style = 'UPPER' | 'snake' | 'camel' | 'Pascal' | 'kebab' | 'Header' | 'dotted';

function keyName(w: Words, style: Style): string {
  const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
  switch (style) {
    case 'UPPER':
      return w.join('_').toUpperCase();
    case 'snake':
      return w.join('_');
    case 'camel':
      return w[0] + w.slice(1).map(cap).join('');
    case 'Pascal':
      return w.map(cap).join('');
    case 'kebab':
      return w.join('-');
    case 'Header':
      return w.map(cap).join('-');
    case 'dotted':
      return w.join('.');
  }
}

// ---------------------------------------------------------------- file shapes

interface Placed {
  text: string;
  at: [number, number];
}

/** Lines before and after the planted line, and which line it is. */
function place(before: string[], line: string, after: string[]): Placed {
  const lines = [...before, ...line.split('\n'), ...after];
  const at = before.length + 1;
  return { text: lines.join('\n') + '\n', at: [at, at + line.split('\n').length - 1] };
}

const NOISE_ENV = ['NODE_ENV=production', 'PORT=8080', 'LOG_LEVEL=info', 'DATABASE_HOST=db.internal', 'REDIS_URL=redis://cache:6379/0', 'APP_NAME=billing-api', 'TZ=UTC', 'FEATURE_FLAGS=search,export', 'WORKERS=4', 'S3_BUCKET=acme-uploads-prod'];
const NOISE_YAML = ['  name: billing-api', '  replicas: 3', '  region: eu-west-1', '  timeout: 30s', '  retries: 5', '  log_level: info', '  endpoint: https://api.example.com/v2'];

type Shape = (r: Rng, w: Words, v: string) => Placed;

const quoted = (r: Rng, v: string, pool: readonly string[] = ['"', "'"]): string => {
  const c = r.pick(pool);
  return `${c}${v}${c}`;
};
const some = <T>(r: Rng, xs: readonly T[], lo: number, hi: number): T[] => r.shuffle([...xs]).slice(0, r.int(lo, hi));

export const SHAPES: Record<string, Shape> = {
  env: (r, w, v) => {
    const val = r.pick([v, `"${v}"`, `'${v}'`]);
    return place(some(r, NOISE_ENV, 1, 4), `${keyName(w, 'UPPER')}=${val}`, some(r, NOISE_ENV, 0, 3));
  },
  shell: (r, w, v) => place(['#!/usr/bin/env bash', 'set -euo pipefail'], `export ${keyName(w, 'UPPER')}=${quoted(r, v, ['"', "'", ''])}`, ['exec ./bin/server "$@"']),
  json: (r, w, v) => {
    const k = keyName(w, r.pick(['snake', 'camel'] as const));
    return place(['{', '  "service": "billing",', '  "region": "us-east-1",'], `  "${k}": "${v}",`, ['  "timeout": 30', '}']);
  },
  yaml: (r, w, v) => {
    const k = keyName(w, r.pick(['snake', 'camel', 'kebab'] as const));
    return place([r.pick(['service:', 'config:', 'integrations:', 'production:']), ...some(r, NOISE_YAML, 1, 3)], `  ${k}: ${r.pick([v, `"${v}"`, `'${v}'`])}`, some(r, NOISE_YAML, 0, 2));
  },
  toml: (r, w, v) => place(['[server]', 'host = "0.0.0.0"', 'port = 8080', '', `[${r.pick(['auth', 'api', 'credentials', 'upstream'])}]`], `${keyName(w, 'snake')} = "${v}"`, ['timeout = 30']),
  ini: (r, w, v) => place(['[database]', 'host = db.internal', 'port = 5432', '', `[${r.pick(['auth', 'default', 'service'])}]`], `${keyName(w, r.pick(['snake', 'Pascal'] as const))} = ${v}`, ['retries = 3']),
  properties: (r, w, v) => place(['spring.application.name=billing', 'server.port=8080', 'spring.datasource.url=jdbc:postgresql://db:5432/app'], `${r.pick(['app', 'spring.cloud', 'integration'])}.${keyName(w, 'dotted')}=${v}`, ['logging.level.root=INFO']),
  js: (r, w, v) => {
    const k = keyName(w, 'camel');
    return r.chance(0.5)
      ? place(["import { Client } from './client.js';", ''], `const ${k} = ${quoted(r, v, ['"', "'", '`'])};`, ['', `export const client = new Client({ ${k} });`])
      : place(['module.exports = {', "  region: 'us-east-1',"], `  ${k}: ${quoted(r, v)},`, ['  retries: 3,', '};']);
  },
  ts: (r, w, v) => place(["import type { Config } from './types.js';", ''], `export const ${keyName(w, 'UPPER')}: string = ${quoted(r, v)};`, ['export const TIMEOUT_MS = 30_000;']),
  python: (r, w, v) =>
    r.pick([
      () => place(['import os', 'import requests', ''], `${keyName(w, 'UPPER')} = ${quoted(r, v)}`, ['', 'def client():', '    return requests.Session()']),
      () => place(['from acme import Client', ''], `client = Client(${keyName(w, 'snake')}=${quoted(r, v)}, timeout=30)`, ['client.ping()']),
      () => place(['import os', ''], `os.environ["${keyName(w, 'UPPER')}"] = "${v}"`, ['main()']),
    ])(),
  go: (r, w, v) =>
    r.pick([
      () => place(['package main', '', 'func main() {'], `\t${keyName(w, 'camel')} := "${v}"`, [`\tclient := acme.New(${keyName(w, 'camel')})`, '\tclient.Run()', '}']),
      () => place(['package config', ''], `const ${keyName(w, 'Pascal')} = "${v}"`, ['const Timeout = 30']),
    ])(),
  java: (r, w, v) =>
    r.pick([
      () => place(['public class Config {'], `    private static final String ${keyName(w, 'UPPER')} = "${v}";`, ['    private static final int TIMEOUT = 30;', '}']),
      () => place(['Properties props = new Properties();', 'props.put("bootstrap.servers", "kafka:9092");'], `props.put("${keyName(w, 'dotted')}", "${v}");`, ['Producer<String, String> p = new KafkaProducer<>(props);']),
    ])(),
  csharp: (r, w, v) => place(['namespace Billing;', 'public static class Settings {'], `    public const string ${keyName(w, 'Pascal')} = "${v}";`, ['}']),
  php: (r, w, v) =>
    r.chance(0.5)
      ? place(['<?php', "define('DB_HOST', 'localhost');"], `define('${keyName(w, 'UPPER')}', '${v}');`, ["define('WP_DEBUG', false);"])
      : place(['<?php', 'return ['], `    '${keyName(w, 'snake')}' => '${v}',`, ["    'timeout' => 30,", '];']),
  ruby: (r, w, v) => place(['Rails.application.configure do'], `  config.${keyName(w, 'snake')} = "${v}"`, ['  config.cache_classes = true', 'end']),
  xml: (r, w, v) =>
    r.chance(0.5)
      ? place(['<configuration>', '  <appSettings>'], `    <add key="${keyName(w, 'Pascal')}" value="${v}" />`, ['  </appSettings>', '</configuration>'])
      : place(['<settings>', '  <server>'], `    <${keyName(w, 'camel')}>${v}</${keyName(w, 'camel')}>`, ['  </server>', '</settings>']),
  dockerfile: (r, w, v) => place(['FROM node:20-slim', 'WORKDIR /app'], `ENV ${keyName(w, 'UPPER')}=${v}`, ['COPY . .', 'CMD ["node", "server.js"]']),
  compose: (r, w, v) => place(['services:', '  api:', '    image: acme/api:1.4', '    environment:', '      - NODE_ENV=production'], `      - ${keyName(w, 'UPPER')}=${v}`, ['    ports:', '      - "8080:8080"']),
  k8s: (r, w, v) =>
    r.chance(0.5)
      ? place(['apiVersion: v1', 'kind: Secret', 'metadata:', '  name: api-credentials', 'type: Opaque', 'stringData:'], `  ${keyName(w, r.pick(['snake', 'kebab'] as const))}: ${r.pick([v, `"${v}"`])}`, [])
      : place(['    spec:', '      containers:', '        - name: api', '          env:'], `            - name: ${keyName(w, 'UPPER')}\n              value: "${v}"`, ['            - name: PORT', '              value: "8080"']),
  'github-actions': (r, w, v) => place(['name: deploy', 'on: [push]', 'jobs:', '  deploy:', '    runs-on: ubuntu-latest', '    env:'], `      ${keyName(w, 'UPPER')}: ${r.pick([v, `"${v}"`])}`, ['    steps:', '      - uses: actions/checkout@v4', '      - run: ./deploy.sh']),
  'gitlab-ci': (r, w, v) => place(['stages: [test, deploy]', 'variables:', '  DOCKER_DRIVER: overlay2'], `  ${keyName(w, 'UPPER')}: "${v}"`, ['deploy:', '  stage: deploy', '  script: ./deploy.sh']),
  terraform: (r, w, v) => place(['provider "acme" {', '  region = "eu-west-1"'], `  ${keyName(w, 'snake')} = "${v}"`, ['}']),
  cli: (r, w, v) =>
    r.pick([
      () => place(['# deploy from a laptop'], `acme-cli deploy --${keyName(w, 'kebab')} ${r.pick([v, `"${v}"`, `'${v}'`])} --region eu-west-1`, []),
      () => place(['#!/bin/sh'], `./bin/sync --${keyName(w, 'kebab')}=${v} --verbose`, []),
    ])(),
  log: (r, w, v) =>
    r.pick([
      () => place(['2024-05-02T10:14:07.311Z INFO  starting worker pid=4121'], `2024-05-02T10:14:07.402Z DEBUG upstream request method=POST path=/v1/charge ${keyName(w, 'snake')}=${v} status=200`, ['2024-05-02T10:14:07.519Z INFO  done in 117ms']),
      () => place(['{"level":"info","msg":"boot","ts":1714644847}'], `{"level":"debug","msg":"loaded config","${keyName(w, 'snake')}":"${v}","ts":1714644848}`, []),
    ])(),
  http: (r, w, v) => place(['POST /v2/events HTTP/1.1', 'Host: api.example.com', 'Content-Type: application/json'], `${keyName(w, 'Header')}: ${v}`, ['Content-Length: 42', '', '{"event":"deploy","status":"ok"}']),
  // A model request body: the agent pasted a config into the conversation (JSON-escaped quotes and line breaks).
  'chat-json': (r, w, v) =>
    place(['{"model":"claude-sonnet-4","max_tokens":1024,'], `"messages":[{"role":"user","content":"why does this fail?\\n\\n${r.pick([`${keyName(w, 'UPPER')}=${v}`, `${keyName(w, 'snake')}: \\"${v}\\"`, `const ${keyName(w, 'camel')} = \\"${v}\\";`])}\\nthe error is 401"}]}`, []),
  notebook: (r, w, v) => place(['{"cells":[{"cell_type":"code","source":['], `"import requests\\n", "${keyName(w, 'UPPER')} = \\"${v}\\"\\n",`, ['"requests.get(URL)"]}]}']),
  'c-define': (r, w, v) => place(['#include <stdio.h>', ''], `#define ${keyName(w, 'UPPER')} "${v}"`, ['int main(void) { return 0; }']),
  powershell: (r, w, v) => place(['# deploy.ps1'], `$env:${keyName(w, 'UPPER')} = "${v}"`, ['./deploy.exe --verbose']),
  systemd: (r, w, v) => place(['[Service]', 'ExecStart=/usr/bin/api'], `Environment="${keyName(w, 'UPPER')}=${v}"`, ['Restart=always']),
  'docker-run': (r, w, v) => place(['#!/bin/sh'], `docker run -d -e ${keyName(w, 'UPPER')}=${v} -p 8080:8080 acme/api:1.4`, []),
};

const ALL_SHAPES = Object.keys(SHAPES);

// ---------------------------------------------------------------- families

interface Family {
  name: string;
  value: (r: Rng) => string;
  /** Key names the value is assigned to. */
  keys: readonly Words[];
  /** Shapes to use (default: all); `prose` families can stand alone in text. */
  shapes?: readonly string[];
  /** Extra renderers of the whole sample (connection strings, headers, multi-line formats). */
  custom?: readonly ((r: Rng, v: string) => Placed)[];
  /** The value carries a prefix of its own (usable in prose, reversal and concatenation evasions). */
  prefixed?: boolean;
}

const prose = (r: Rng, v: string): Placed =>
  place([r.pick(['Thanks for the help with the deploy!', 'Notes from the incident call:', '## Setup'])], r.pick([`Use this one for now: ${v}`, `the token is ${v} (rotate after the demo)`, `> ${v}`, `    ${v}`]), ['Let me know if it works.']);
const bearer = (r: Rng, v: string): Placed =>
  r.pick([
    () => place(['GET /api/v1/me HTTP/1.1', 'Host: api.example.com'], `Authorization: Bearer ${v}`, ['Accept: application/json']),
    () => place(['#!/bin/sh'], `curl -sS -H "Authorization: Bearer ${v}" https://api.example.com/v1/me`, []),
    () => place(['const res = await fetch(url, {', '  headers: {'], `    Authorization: 'Bearer ${v}',`, ['  },', '});']),
  ])();

const pem = (r: Rng, label: string, bodyLines: number): string =>
  [`-----BEGIN ${label}-----`, ...Array.from({ length: bodyLines }, (_, i) => (i === bodyLines - 1 ? r.chars(r.int(20, 60), B64) + '=' : r.chars(64, B64))), `-----END ${label}-----`].join('\n');

const sasSig = (r: Rng): string => encodeURIComponent(b64bytes(r, 32));
const sasQuery = (r: Rng): string =>
  `sv=2022-11-02&ss=${r.pick(['b', 'bfqt', 'f'])}&srt=${r.pick(['sco', 'o', 'c'])}&sp=${r.pick(['rl', 'rwdlacupiytfx', 'r'])}&se=2025-0${r.int(1, 9)}-1${r.int(0, 9)}T0${r.int(0, 9)}:00:00Z&st=2024-0${r.int(1, 9)}-0${r.int(1, 9)}T00:00:00Z&spr=https&sig=${sasSig(r)}`;

const humanPassword = (r: Rng): string =>
  r.pick([
    () => `${r.pick(['Summer', 'Winter', 'Falcon', 'Orange', 'Marble', 'Rocket', 'Harbor', 'Velvet'])}${r.int(1970, 2031)}${r.pick(['!', '#', '$', '@', '*', '?'])}`,
    () => r.chars(r.int(12, 24), ALNUM + '!#$%&*@^-_.+='),
    () => r.chars(r.int(16, 32), ALNUM),
    () => `${r.chars(4, LO)}${r.pick(['!', '#', '@'])}${r.chars(4, UP)}${r.int(10, 99)}${r.chars(3, LO)}`,
  ])();

export const FAMILIES: readonly Family[] = [
  { name: 'aws-access-key-id', prefixed: true, value: (r) => j('AKIA', r.chars(16, B32)), keys: [['aws', 'access', 'key', 'id'], ['access', 'key', 'id']] },
  {
    name: 'aws-secret-access-key',
    value: (r) => r.chars(40, B64),
    keys: [['aws', 'secret', 'access', 'key'], ['secret', 'access', 'key'], ['aws', 'secret', 'key']],
    custom: [(r, v) => place(['[default]', `region = ${r.pick(['us-east-1', 'eu-west-1'])}`], `aws_secret_access_key = ${v}`, []), (_r, v) => place(['{', '  "AccessKey": {', '    "UserName": "ci-deployer",', '    "Status": "Active",'], `    "SecretAccessKey": "${v}",`, ['    "CreateDate": "2024-05-02T10:14:07Z"', '  }', '}'])],
  },
  { name: 'github-pat', prefixed: true, value: (r) => crcToken(r, 'ghp_'), keys: [['github', 'token'], ['gh', 'token'], ['github', 'pat']], custom: [prose, bearer, (r, v) => place(['[remote "origin"]'], `\turl = https://x-access-token:${v}@github.com/acme/${r.pick(['api', 'infra', 'web'])}.git`, ['\tfetch = +refs/heads/*:refs/remotes/origin/*'])] },
  { name: 'github-oauth', prefixed: true, value: (r) => crcToken(r, 'gho_'), keys: [['github', 'oauth', 'token'], ['gh', 'token']], custom: [prose, bearer] },
  { name: 'github-app-token', prefixed: true, value: (r) => crcToken(r, r.pick(['ghs_', 'ghu_'])), keys: [['github', 'app', 'token'], ['installation', 'token']], custom: [bearer] },
  { name: 'github-fine-grained-pat', prefixed: true, value: (r) => j('github_pat_', r.chars(22, ALNUM), '_', r.chars(59, ALNUM)), keys: [['github', 'token'], ['gh', 'pat']], custom: [prose, bearer] },
  { name: 'gitlab-token', prefixed: true, value: (r) => j(r.pick(['glpat-', 'glpat-', 'gldt-', 'glrt-']), r.chars(20, ALNUM + '-_')), keys: [['gitlab', 'token'], ['ci', 'job', 'token'], ['gl', 'token']], custom: [prose] },
  { name: 'slack-bot-token', prefixed: true, value: (r) => j('xoxb-', r.chars(r.int(10, 12), DIG), '-', r.chars(13, DIG), '-', r.chars(24, ALNUM)), keys: [['slack', 'bot', 'token'], ['slack', 'token']], custom: [prose, bearer] },
  { name: 'slack-user-token', prefixed: true, value: (r) => j('xoxp-', r.chars(11, DIG), '-', r.chars(11, DIG), '-', r.chars(13, DIG), '-', r.chars(32, HEXL)), keys: [['slack', 'user', 'token'], ['slack', 'token']], custom: [prose] },
  { name: 'slack-webhook', prefixed: true, value: (r) => j('https://hooks.slack.com/services/T', r.chars(8, UPNUM), '/B', r.chars(10, UPNUM), '/', r.chars(24, ALNUM)), keys: [['slack', 'webhook', 'url'], ['webhook', 'url']], custom: [prose] },
  { name: 'slack-app-token', prefixed: true, value: (r) => j('xapp-1-A', r.chars(10, UPNUM), '-', r.chars(13, DIG), '-', r.chars(64, HEXL)), keys: [['slack', 'app', 'token']] },
  { name: 'stripe-secret-key', prefixed: true, value: (r) => j(r.pick(['sk_live_', 'rk_live_']), r.chance(0.5) ? r.chars(24, ALNUM) : j('51', r.chars(97, ALNUM))), keys: [['stripe', 'secret', 'key'], ['stripe', 'api', 'key'], ['stripe', 'key']], custom: [prose, bearer] },
  { name: 'stripe-webhook-secret', prefixed: true, value: (r) => j('whsec_', r.chars(32, ALNUM)), keys: [['stripe', 'webhook', 'secret'], ['webhook', 'signing', 'secret']] },
  { name: 'openai-api-key', prefixed: true, value: (r) => j('sk-proj-', r.chars(r.int(56, 74), B64URL), 'T3BlbkFJ', r.chars(r.int(56, 74), B64URL)), keys: [['openai', 'api', 'key'], ['openai', 'key']], custom: [prose, bearer] },
  { name: 'anthropic-api-key', prefixed: true, value: (r) => j('sk-ant-api03-', r.chars(93, B64URL), 'AA'), keys: [['anthropic', 'api', 'key'], ['claude', 'api', 'key']], custom: [prose, (_r, v) => place(['curl https://api.anthropic.com/v1/messages \\'], `  -H "x-api-key: ${v}" \\`, ['  -H "anthropic-version: 2023-06-01"'])] },
  { name: 'google-api-key', prefixed: true, value: (r) => j('AIza', r.chars(35, B64URL)), keys: [['google', 'api', 'key'], ['maps', 'api', 'key'], ['firebase', 'api', 'key']], custom: [prose, (_r, v) => place(['<script'], `  src="https://maps.googleapis.com/maps/api/js?key=${v}&callback=initMap"`, ['  async></script>'])] },
  { name: 'gcp-oauth-client-secret', prefixed: true, value: (r) => j('GOCSPX-', r.chars(28, B64URL)), keys: [['google', 'client', 'secret'], ['oauth', 'client', 'secret']] },
  {
    name: 'private-key',
    value: (r) => pem(r, r.pick(['RSA PRIVATE KEY', 'PRIVATE KEY', 'EC PRIVATE KEY', 'OPENSSH PRIVATE KEY']), r.int(4, 12)),
    keys: [['private', 'key']],
    shapes: [],
    custom: [
      (_r, v) => place([], v, []),
      (_r, v) => place(['{', '  "type": "service_account",', '  "project_id": "acme-prod",', '  "private_key_id": "1f0e3d2c4b5a69788796a5b4c3d2e1f0a9b8c7d6",'], `  "private_key": "${v.replace(/\n/g, '\\n')}\\n",`, ['  "client_email": "deployer@acme-prod.iam.gserviceaccount.com"', '}']),
      (_r, v) => place(['ssh:', '  deploy_key: |'], v.replace(/^/gm, '    '), []),
    ],
  },
  { name: 'npm-token', prefixed: true, value: (r) => crcToken(r, 'npm_'), keys: [['npm', 'token']], custom: [(_r, v) => place(['registry=https://registry.npmjs.org/'], `//registry.npmjs.org/:_authToken=${v}`, ['always-auth=true'])] },
  { name: 'pypi-token', prefixed: true, value: (r) => j('pypi-AgEIcHlwaS5vcmc', r.chars(r.int(60, 140), B64URL)), keys: [['pypi', 'token'], ['twine', 'password']], custom: [(_r, v) => place(['[pypi]', 'username = __token__'], `password = ${v}`, [])] },
  { name: 'dockerhub-pat', prefixed: true, value: (r) => j('dckr_pat_', r.chars(27, B64URL)), keys: [['docker', 'hub', 'token'], ['dockerhub', 'password']] },
  { name: 'rubygems-api-key', prefixed: true, value: (r) => j('rubygems_', r.chars(48, HEXL)), keys: [['gem', 'host', 'api', 'key']] },
  { name: 'sendgrid-api-key', prefixed: true, value: (r) => j('SG.', r.chars(22, B64URL), '.', r.chars(43, B64URL)), keys: [['sendgrid', 'api', 'key']], custom: [bearer] },
  { name: 'twilio-api-key', prefixed: true, value: (r) => j('SK', r.chars(32, HEXL)), keys: [['twilio', 'api', 'key'], ['twilio', 'api', 'key', 'sid']] },
  { name: 'twilio-auth-token', value: (r) => r.chars(32, HEXL), keys: [['twilio', 'auth', 'token'], ['twilio', 'token']] },
  { name: 'mailchimp-api-key', value: (r) => j(r.chars(32, HEXL), '-us', String(r.int(1, 21))), keys: [['mailchimp', 'api', 'key'], ['mc', 'api', 'key']] },
  {
    name: 'mailgun-api-key',
    value: (r) => (r.chance(0.5) ? j('key-', r.chars(32, HEXL)) : j(r.chars(32, HEXL), '-', r.chars(8, HEXL), '-', r.chars(8, HEXL))),
    keys: [['mailgun', 'api', 'key'], ['mailgun', 'key'], ['mailgun', 'signing', 'key']],
    custom: [(_r, v) => place(['#!/bin/sh'], `curl -s --user 'api:${v}' https://api.mailgun.net/v3/mg.example.com/messages \\`, ["  -F from='ops@example.com' -F to=oncall@example.com"])],
  },
  { name: 'shopify-token', prefixed: true, value: (r) => j(r.pick(['shpat_', 'shpss_', 'shpca_']), r.chars(32, HEXL)), keys: [['shopify', 'access', 'token'], ['shopify', 'api', 'secret']] },
  { name: 'square-token', prefixed: true, value: (r) => (r.chance(0.5) ? j('EAAA', r.chars(60, B64URL)) : j('sq0atp-', r.chars(22, B64URL))), keys: [['square', 'access', 'token']] },
  { name: 'discord-bot-token', prefixed: true, value: (r) => j(r.pick(['M', 'N']), r.chars(r.int(23, 25), ALNUM), '.', r.chars(6, B64URL), '.', r.chars(r.int(27, 38), B64URL)), keys: [['discord', 'bot', 'token'], ['discord', 'token']] },
  { name: 'discord-webhook', prefixed: true, value: (r) => j('https://discord.com/api/webhooks/', r.chars(18, DIG), '/', r.chars(68, B64URL)), keys: [['discord', 'webhook', 'url']] },
  { name: 'telegram-bot-token', prefixed: true, value: (r) => j(String(r.int(100000000, 8999999999)), ':AA', r.chars(33, B64URL)), keys: [['telegram', 'bot', 'token'], ['tg', 'token']] },
  { name: 'digitalocean-token', prefixed: true, value: (r) => j(r.pick(['dop_v1_', 'doo_v1_']), r.chars(64, HEXL)), keys: [['digitalocean', 'token'], ['do', 'token']] },
  {
    name: 'vault-token',
    value: (r) => (r.chance(0.5) ? j('hvs.', r.chars(r.int(90, 100), B64URL)) : j('s.', r.chars(24, ALNUM))),
    keys: [['vault', 'token']],
    custom: [(_r, v) => place(['GET /v1/secret/data/app HTTP/1.1', 'Host: vault.internal:8200'], `X-Vault-Token: ${v}`, []), (_r, v) => place(['#!/bin/sh'], `VAULT_ADDR=https://vault.internal:8200 VAULT_TOKEN=${v} vault kv get secret/app`, [])],
  },
  { name: 'terraform-cloud-token', prefixed: true, value: (r) => j(r.chars(14, ALNUM), '.atlasv1.', r.chars(67, ALNUM)), keys: [['tfe', 'token'], ['tf', 'token']], custom: [(_r, v) => place(['credentials "app.terraform.io" {'], `  token = "${v}"`, ['}'])] },
  { name: 'databricks-token', prefixed: true, value: (r) => j('dapi', r.chars(32, HEXL)), keys: [['databricks', 'token']] },
  { name: 'doppler-token', prefixed: true, value: (r) => (r.chance(0.5) ? j('dp.pt.', r.chars(43, ALNUM)) : j('dp.st.', r.pick(['dev', 'prd', 'stg', 'dev_api']), '.', r.chars(40, ALNUM))), keys: [['doppler', 'token']] },
  { name: 'pulumi-token', prefixed: true, value: (r) => j('pul-', r.chars(40, HEXL)), keys: [['pulumi', 'access', 'token']] },
  { name: 'linear-api-key', prefixed: true, value: (r) => j('lin_api_', r.chars(40, ALNUM)), keys: [['linear', 'api', 'key']] },
  { name: 'figma-token', prefixed: true, value: (r) => j('figd_', r.chars(40, B64URL)), keys: [['figma', 'token']] },
  { name: 'postman-api-key', prefixed: true, value: (r) => j('PMAK-', r.chars(24, HEXL), '-', r.chars(34, HEXL)), keys: [['postman', 'api', 'key']] },
  { name: 'planetscale-token', prefixed: true, value: (r) => j(r.pick(['pscale_tkn_', 'pscale_pw_']), r.chars(43, B64URL)), keys: [['planetscale', 'token'], ['database', 'password']] },
  { name: 'heroku-api-key', value: (r) => (r.chance(0.25) ? j('HRKU-AA', r.chars(58, B64URL)) : uuid(r)), keys: [['heroku', 'api', 'key'], ['heroku', 'token']], custom: [(r, v) => place(['machine api.heroku.com', `  login ${r.pick(['ops', 'deploy', 'me'])}@example.com`], `  password ${v}`, ['machine git.heroku.com'])] },
  { name: 'newrelic-key', prefixed: true, value: (r) => j('NRAK-', r.chars(27, UPNUM)), keys: [['new', 'relic', 'api', 'key'], ['newrelic', 'key']] },
  { name: 'grafana-token', prefixed: true, value: (r) => (r.chance(0.5) ? j('glsa_', r.chars(32, ALNUM), '_', r.chars(8, HEXL)) : j('glc_', b64bytes(r, r.int(60, 90)).replace(/=+$/, ''))), keys: [['grafana', 'token'], ['grafana', 'api', 'key']] },
  {
    name: 'sentry',
    value: (r) => (r.chance(0.4) ? j('sntryu_', r.chars(64, HEXL)) : j('https://', r.chars(32, HEXL), '@o', String(r.int(100000, 4999999)), '.ingest.', r.pick(['', 'us.', 'de.']), 'sentry.io/', String(r.int(1000000, 9999999)))),
    keys: [['sentry', 'dsn'], ['sentry', 'auth', 'token']],
    custom: [(_r, v) => place(["import * as Sentry from '@sentry/node';", 'Sentry.init({'], `  dsn: '${v}',`, ['  tracesSampleRate: 0.1,', '});'])],
  },
  { name: 'huggingface-token', prefixed: true, value: (r) => j('hf_', r.chars(34, UP + LO)), keys: [['hf', 'token'], ['hugging', 'face', 'hub', 'token']] },
  { name: 'groq-api-key', prefixed: true, value: (r) => j('gsk_', r.chars(52, ALNUM)), keys: [['groq', 'api', 'key']] },
  { name: 'atlassian-api-token', prefixed: true, value: (r) => j('ATATT3xFfGF0', r.chars(171, B64URL), '=', r.chars(8, HEXL.toUpperCase())), keys: [['jira', 'api', 'token'], ['atlassian', 'token']] },
  { name: 'bitbucket-app-password', value: (r) => (r.chance(0.5) ? j('ATBB', r.chars(32, ALNUM)) : r.chars(20, ALNUM)), keys: [['bitbucket', 'app', 'password'], ['bitbucket', 'password'], ['bb', 'app', 'password']] },
  { name: 'jwt', prefixed: true, value: (r) => [Buffer.from(JSON.stringify({ alg: r.pick(['HS256', 'RS256']), typ: 'JWT' })).toString('base64url'), Buffer.from(JSON.stringify({ sub: uuid(r), iss: 'https://auth.example.com', exp: r.int(1.7e9, 1.9e9) })).toString('base64url'), r.chars(r.int(43, 342), B64URL)].join('.'), keys: [['access', 'token'], ['id', 'token'], ['session', 'token']], custom: [bearer] },
  {
    name: 'url-credentials',
    value: (r) => humanPassword(r).replace(/[@/:#?%]/g, 'x'),
    keys: [],
    shapes: [],
    custom: [
      (r, v) => place(NOISE_ENV.slice(0, 2), `DATABASE_URL=${r.pick(['postgres', 'postgresql', 'mysql'])}://${r.pick(['app', 'admin', 'billing'])}:${v}@db.${r.pick(['prod', 'internal'])}.example.com:5432/app`, []),
      (r, v) => place(['spring:', '  data:', '    mongodb:'], `      uri: mongodb+srv://${r.pick(['svc', 'root'])}:${v}@cluster0.ab1cd.mongodb.net/app?retryWrites=true`, []),
      (_r, v) => place(['CELERY_RESULT_BACKEND = "rpc://"'], `CELERY_BROKER_URL = "amqp://worker:${v}@rabbit.internal:5672//"`, []),
      (_r, v) => place(['cache:'], `  url: redis://default:${v}@redis-12345.c1.us-east-1-2.ec2.cloud.redislabs.com:12345`, []),
    ],
  },
  {
    name: 'azure-storage-key',
    value: (r) => b64bytes(r, 64),
    keys: [['azure', 'storage', 'key'], ['storage', 'account', 'key']],
    custom: [(r, v) => place(['{', '  "ConnectionStrings": {'], `    "Storage": "DefaultEndpointsProtocol=https;AccountName=${r.pick(['acmeprod', 'billingstore'])};AccountKey=${v};EndpointSuffix=core.windows.net"`, ['  }', '}'])],
  },
  { name: 'azure-ad-client-secret', prefixed: true, value: (r) => j(r.chars(3, ALNUM), String(r.int(0, 9)), 'Q~', r.chars(34, ALNUM + '_-.~')), keys: [['azure', 'client', 'secret'], ['client', 'secret']] },
  {
    name: 'azure-sas-token',
    value: sasQuery,
    keys: [['azure', 'storage', 'sas', 'token'], ['sas', 'token']],
    custom: [
      (r, v) => place(['# nightly export'], `azcopy copy ./dump.sql "https://${r.pick(['acmeprod', 'backups01'])}.blob.core.windows.net/exports/dump.sql?${v}"`, []),
      (r, v) => place(['{'], `  "BlobSasUrl": "https://${r.pick(['acmeprod', 'media'])}.blob.core.windows.net/media?${v}",`, ['  "Retries": 3', '}']),
      (r, _v) => place(['{', '  "ServiceBus": {'], `    "ConnectionString": "Endpoint=sb://${r.pick(['acme', 'orders'])}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${b64bytes(r, 32)}"`, ['  }', '}']),
    ],
  },
  {
    name: 'basic-auth',
    value: (r) => Buffer.from(`${r.pick(['admin', 'deploy', 'svc-billing', 'jenkins', 'ci'])}:${humanPassword(r)}`).toString('base64'),
    keys: [],
    shapes: [],
    custom: [
      (_r, v) => place(['GET /api/v1/builds HTTP/1.1', 'Host: ci.example.com'], `Authorization: Basic ${v}`, ['Accept: */*']),
      (_r, v) => place(['#!/bin/sh'], `curl -fsS -H "Authorization: Basic ${v}" https://nexus.example.com/service/rest/v1/assets`, []),
      (_r, v) => place(['location /admin/ {'], `    proxy_set_header Authorization "Basic ${v}";`, ['    proxy_pass http://admin:8080;', '}']),
      (_r, v) => place(['2024-05-02T10:14:07Z WARN  retrying request'], `2024-05-02T10:14:07Z DEBUG headers={'Authorization': 'Basic ${v}', 'User-Agent': 'python-requests/2.31'}`, []),
      (_r, v) => place(['{', '  "auths": {', '    "registry.example.com": {'], `      "auth": "${v}"`, ['    }', '  }', '}']),
    ],
  },
  { name: 'datadog-api-key', value: (r) => r.chars(32, HEXL), keys: [['dd', 'api', 'key'], ['datadog', 'api', 'key']], custom: [(_r, v) => place(['POST /api/v2/series HTTP/1.1', 'Host: api.datadoghq.com', 'Content-Type: application/json'], `DD-API-KEY: ${v}`, [])] },
  { name: 'datadog-app-key', value: (r) => r.chars(40, HEXL), keys: [['dd', 'app', 'key'], ['datadog', 'app', 'key'], ['dd', 'application', 'key']] },
  { name: 'vercel-token', value: (r) => r.chars(24, ALNUM), keys: [['vercel', 'token'], ['vercel', 'api', 'token']] },
  { name: 'generic-api-key', value: (r) => r.pick([() => r.chars(32, HEXL), () => r.chars(r.int(24, 48), ALNUM), () => r.chars(r.int(24, 44), B64URL), () => r.chars(40, LOWNUM)])(), keys: [['api', 'key'], ['apikey'], ['x', 'api', 'key'], ['service', 'api', 'key'], ['client', 'secret'], ['app', 'secret'], ['secret', 'key'], ['access', 'token'], ['auth', 'token'], ['api', 'token'], ['secret']] },
  {
    name: 'generic-password',
    value: humanPassword,
    keys: [['password'], ['db', 'password'], ['database', 'password'], ['admin', 'password'], ['smtp', 'password'], ['mysql', 'root', 'password'], ['passwd'], ['redis', 'password'], ['ldap', 'bind', 'password']],
    custom: [(r, v) => place(['{', '  "ConnectionStrings": {'], `    "Default": "Server=${r.pick(['sql01', 'db.internal'])};Database=app;User Id=${r.pick(['app', 'sa'])};Password=${v};TrustServerCertificate=True"`, ['  }', '}'])],
  },
  { name: 'alibaba-access-key', prefixed: true, value: (r) => j('LTAI', r.chars(20, ALNUM)), keys: [['alibaba', 'access', 'key', 'id'], ['aliyun', 'access', 'key']] },
  { name: 'mapbox-secret-token', prefixed: true, value: (r) => j('sk.eyJ1Ijoi', r.chars(r.int(40, 60), B64URL), '.', r.chars(22, B64URL)), keys: [['mapbox', 'secret', 'token'], ['mapbox', 'token']] },
  { name: 'shippo-token', prefixed: true, value: (r) => j('shippo_live_', r.chars(40, HEXL)), keys: [['shippo', 'api', 'token']] },
  { name: 'contentful-token', prefixed: true, value: (r) => j('CFPAT-', r.chars(43, B64URL)), keys: [['contentful', 'management', 'token']] },
  { name: 'supabase-token', prefixed: true, value: (r) => j('sbp_', r.chars(40, HEXL)), keys: [['supabase', 'access', 'token']] },
  { name: 'prefect-api-key', prefixed: true, value: (r) => j('pnu_', r.chars(36, ALNUM)), keys: [['prefect', 'api', 'key']] },
  { name: 'okta-token', value: (r) => j('00', r.chars(40, B64URL)), keys: [['okta', 'api', 'token'], ['okta', 'token']] },
  { name: 'cloudflare-api-token', value: (r) => r.chars(40, B64URL), keys: [['cloudflare', 'api', 'token'], ['cf', 'api', 'token']] },
  { name: 'algolia-admin-key', value: (r) => r.chars(32, HEXL), keys: [['algolia', 'admin', 'key'], ['algolia', 'api', 'key']] },
];

// ---------------------------------------------------------------- look-alikes (no credential)

type Negative = (r: Rng) => Placed & { shape: string };
const neg = (shape: string, p: Placed): Placed & { shape: string } => ({ ...p, shape });
const sha = (r: Rng, n: number): string => r.chars(n, HEXL);
const sri = (r: Rng, bits: 256 | 384 | 512): string => `sha${bits}-${b64bytes(r, bits / 8)}`;

const PLACEHOLDER_VALUES = (r: Rng): string =>
  r.pick([
    'your-api-key-here',
    'YOUR_API_KEY',
    '<your-token>',
    '<API_KEY>',
    'changeme',
    'CHANGE_ME',
    'REPLACE_ME',
    'xxxxxxxxxxxxxxxxxxxxxxxx',
    'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
    '********',
    'sk-...xxxx',
    'sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
    'xoxb-your-bot-token',
    'xoxb-0000000000-0000000000000-xxxxxxxxxxxxxxxxxxxxxxxx',
    `ghp_${'x'.repeat(36)}`,
    'ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
    `AKIA${'X'.repeat(16)}`,
    'sk_live_xxxxxxxxxxxxxxxxxxxxxxxx',
    'TODO',
    'dummy-token',
    'fake_password',
    'test1234',
    'password',
    'secret',
    'example-key-1234',
    'insert-your-token',
    'REDACTED',
    '[REDACTED]',
    '<redacted>',
    '...',
  ]);

const REFERENCE_VALUES = (r: Rng, name: string): string =>
  r.pick([
    `\${${name}}`,
    `$${name}`,
    `\${{ secrets.${name} }}`,
    `{{ .Values.${name.toLowerCase()} }}`,
    `%${name}%`,
    `process.env.${name}`,
    `os.environ["${name}"]`,
    `os.getenv("${name}")`,
    `ENV["${name}"]`,
    `!Ref ${name.replace(/_/g, '')}`,
    `{{ vault "secret/data/app" "${name.toLowerCase()}" }}`,
    `arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/${name.toLowerCase()}-AbCdEf`,
    `op://Engineering/${name.toLowerCase()}/credential`,
    `\${env:${name}}`,
    `$(cat /run/secrets/${name.toLowerCase()})`,
    `/run/secrets/${name.toLowerCase()}`,
    `\${ssm:/prod/app/${name.toLowerCase()}}`,
  ]);

const SECRET_NAMES: Words[] = [['api', 'key'], ['db', 'password'], ['github', 'token'], ['stripe', 'secret', 'key'], ['slack', 'bot', 'token'], ['client', 'secret'], ['datadog', 'api', 'key'], ['password'], ['auth', 'token'], ['twilio', 'auth', 'token']];

export const NEGATIVES: Record<string, Negative> = {
  uuid: (r) =>
    r.pick([
      () => neg('json', place(['{'], `  "id": "${uuid(r)}",`, [`  "tenant_id": "${uuid(r)}",`, `  "created_at": "2024-05-02T10:14:07Z"`, '}'])),
      () => neg('log', place([], `2024-05-02T10:14:07Z INFO request_id=${uuid(r)} trace=${uuid(r)} status=200 duration_ms=${r.int(3, 900)}`, [])),
      () => neg('env', place(['AZURE_TENANT_ID=' + uuid(r)], `AZURE_CLIENT_ID=${uuid(r)}`, [`AZURE_SUBSCRIPTION_ID=${uuid(r)}`])),
      () => neg('http', place(['HTTP/1.1 200 OK'], `X-Request-Id: ${uuid(r)}`, [`X-Correlation-Id: ${uuid(r)}`])),
      () => neg('yaml', place(['dashboard:'], `  uid: ${uuid(r)}`, [`  folder_uid: ${uuid(r)}`])),
    ])(),
  'git-sha': (r) =>
    r.pick([
      () => neg('git', place([`commit ${sha(r, 40)}`, 'Author: Dev <dev@example.com>'], `Merge: ${sha(r, 7)} ${sha(r, 7)}`, ['', '    fix: retry on 503'])),
      () => neg('yaml', place(['      - uses: actions/checkout@' + sha(r, 40)], `      - uses: actions/setup-node@${sha(r, 40)} # v4.0.2`, [])),
      () => neg('json', place(['{'], `  "rev": "${sha(r, 40)}",`, [`  "sha256": "${sha(r, 64)}"`, '}'])),
    ])(),
  checksum: (r) =>
    r.pick([
      () => neg('text', place([], `${sha(r, 64)}  node-v20.12.2-linux-x64.tar.xz`, [`${sha(r, 64)}  node-v20.12.2-darwin-arm64.tar.gz`])),
      () => neg('dockerfile', place(['FROM alpine:3.19'], `ARG TERRAFORM_SHA256=${sha(r, 64)}`, ['RUN echo "$TERRAFORM_SHA256  tf.zip" | sha256sum -c'])),
      () => neg('http', place(['HTTP/1.1 200 OK'], `ETag: "${sha(r, 32)}"`, [`Content-MD5: ${b64bytes(r, 16)}`])),
      () => neg('yaml', place(['image:'], `  digest: sha256:${sha(r, 64)}`, [])),
      () => neg('go.sum', place([`github.com/pkg/errors v0.9.1 h1:${b64bytes(r, 32)}`], `golang.org/x/crypto v0.21.0 h1:${b64bytes(r, 32)}`, [`golang.org/x/crypto v0.21.0/go.mod h1:${b64bytes(r, 32)}`])),
      () => neg('json', place(['{'], `  "md5": "${sha(r, 32)}", "sha1": "${sha(r, 40)}",`, ['  "size": 18231', '}'])),
    ])(),
  'lockfile-integrity': (r) =>
    r.pick([
      () => neg('package-lock', place(['    "node_modules/undici": {', '      "version": "7.3.0",', '      "resolved": "https://registry.npmjs.org/undici/-/undici-7.3.0.tgz",'], `      "integrity": "${sri(r, 512)}",`, ['      "license": "MIT"', '    },'])),
      () => neg('yarn.lock', place(['undici@^7.3.0:', '  version "7.3.0"', '  resolved "https://registry.yarnpkg.com/undici/-/undici-7.3.0.tgz#' + sha(r, 40) + '"'], `  integrity ${sri(r, 512)}`, [])),
      () => neg('pnpm-lock', place(['  /undici@7.3.0:'], `    resolution: {integrity: ${sri(r, 512)}}`, ['    engines: {node: ">=18.17"}'])),
      () => neg('Cargo.lock', place(['[[package]]', 'name = "serde"', 'version = "1.0.197"', 'source = "registry+https://github.com/rust-lang/crates.io-index"'], `checksum = "${sha(r, 64)}"`, [])),
    ])(),
  sri: (r) => neg('html', place(['<link rel="stylesheet" href="/app.css">'], `<script src="https://cdn.example.com/lib@3.2.1/lib.min.js" integrity="${sri(r, r.pick([256, 384, 512] as const))}" crossorigin="anonymous"></script>`, [])),
  placeholder: (r) => {
    const w = r.pick(SECRET_NAMES);
    const shape = r.pick(['env', 'yaml', 'json', 'python', 'js', 'toml', 'github-actions', 'docs']);
    const v = PLACEHOLDER_VALUES(r);
    if (shape === 'docs') return neg('docs', place(['## Configuration', '', 'Set the variable before starting:', '', '```sh'], `export ${keyName(w, 'UPPER')}=${v}`, ['```']));
    return neg(shape, SHAPES[shape]!(r, w, v));
  },
  'documented-example': (r) =>
    r.pick([
      () => neg('aws-credentials', place(['[default]'], `aws_access_key_id = ${j('AKIAIOSFODNN7', 'EXAMPLE')}\naws_secret_access_key = ${j('wJalrXUtnFEMI/K7MDENG/bPxRfiCY', 'EXAMPLEKEY')}`, ['region = us-east-1'])),
      () => neg('docs', place(['```python', 'import boto3', 'client = boto3.client('], `    aws_access_key_id="${j('AKIAI44QH8DHB', 'EXAMPLE')}", aws_secret_access_key="${j('je7MtGbClwBF/2Zp9Utk/h3yCo8nvb', 'EXAMPLEKEY')}",`, [')', '```'])),
      () => neg('docs', place(['Example request:', ''], `curl https://api.stripe.com/v1/charges -u ${j('sk_test_', '4eC39HqLyjWDarjtT1zdp7dc')}:`, [])),
      () => neg('docs', place(['Paste a token from https://jwt.io, e.g.'], ['eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9', 'eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ', 'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'].join('.'), [])),
      () => neg('docs', place(['RFC 7617 example:'], `Authorization: Basic ${'QWxhZGRpbjpvcGVuIHNlc2FtZQ=='}`, [])),
      () => neg('env', place([], `SLACK_BOT_TOKEN=${r.pick(['xoxb-your-bot-token', 'xoxb-your-token-here', 'xoxb-xxxxxxxxxxxx-xxxxxxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx'])}`, ['SLACK_SIGNING_SECRET=your-signing-secret'])),
    ])(),
  reference: (r) => {
    const w = r.pick(SECRET_NAMES);
    const shape = r.pick(['env', 'yaml', 'json', 'toml', 'github-actions', 'gitlab-ci', 'k8s', 'terraform', 'compose']);
    return neg(shape, SHAPES[shape]!(r, w, REFERENCE_VALUES(r, keyName(w, 'UPPER'))));
  },
  'code-reference': (r) => {
    const w = r.pick(SECRET_NAMES);
    const k = keyName(w, 'snake');
    return r.pick([
      () => neg('python', place(['def connect(settings):'], `    ${k} = settings.${k}`, [`    return Client(${k}=${k})`])),
      () => neg('js', place(['export function client(config) {'], `  const ${keyName(w, 'camel')} = config.get('${k}');`, [`  return new Client({ ${keyName(w, 'camel')} });`, '}'])),
      () => neg('go', place(['func load() Config {'], `\t${keyName(w, 'camel')} := os.Getenv("${keyName(w, 'UPPER')}")`, [`\treturn Config{${keyName(w, 'Pascal')}: ${keyName(w, 'camel')}}`, '}'])),
      () => neg('ts', place(['interface Credentials {'], `  ${keyName(w, 'camel')}: string;`, ['  expiresAt?: Date;', '}'])),
      () => neg('python', place(['class Settings(BaseSettings):'], `    ${k}: SecretStr = Field(..., env="${keyName(w, 'UPPER')}")`, ['    debug: bool = False'])),
      () => neg('java', place(['@Value("${app.' + keyName(w, 'dotted') + '}")'], `private String ${keyName(w, 'camel')};`, [])),
      () => neg('js', place(['const UserSchema = new Schema({', '  email: { type: String, required: true },'], `  ${keyName(w, 'camel')}: { type: String, required: true, minlength: 8 },`, ['});'])),
      () => neg('sql', place(['CREATE TABLE users ('], `  ${k} VARCHAR(255) NOT NULL,`, ['  created_at TIMESTAMP', ');'])),
      () => neg('python', place(['@app.post("/login")', 'def login():'], `    ${k} = request.form["${k}"]`, [`    if not check_${k}(user, ${k}):`, '        abort(401)'])),
      () => neg('html', place(['<form method="post">'], `  <input type="password" name="${k}" placeholder="Enter your ${w.join(' ')}" autocomplete="current-password">`, ['</form>'])),
    ])();
  },
  'public-key': (r) =>
    r.pick([
      () => neg('authorized_keys', place([], `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${r.chars(43, B64)} deploy@ci`, [])),
      () => neg('authorized_keys', place([], `ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQ${r.chars(500, B64)}= ops@bastion`, [])),
      () => neg('pem', place([], pem(r, 'PUBLIC KEY', 6), [])),
      () => neg('pem', place([], pem(r, 'CERTIFICATE', 10), [])),
      () => neg('yaml', place(['signing:'], `  public_key: "${b64bytes(r, 32)}"`, ['  algorithm: ed25519'])),
      () => neg('json', place(['{"keys":[{"kty":"RSA","use":"sig",'], `"kid":"${r.chars(22, B64URL)}","n":"${r.chars(342, B64URL)}","e":"AQAB"}]}`, [])),
      () => neg('env', place([], `NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY=pk_live_${r.chars(24, ALNUM)}`, ['NEXT_PUBLIC_API_URL=https://api.example.com'])),
      () => neg('age', place(['# recipients'], `age1${r.chars(58, 'qpzry9x8gf2tvdw0s3jn54khce6mua7l')}`, [])),
    ])(),
  'encrypted-blob': (r) =>
    r.pick([
      () => neg('sops', place(['database:'], `    password: ENC[AES256_GCM,data:${b64bytes(r, 18)},iv:${b64bytes(r, 32)},tag:${b64bytes(r, 16)},type:str]`, ['sops:', '    version: 3.8.1'])),
      () => neg('ansible-vault', place(['db_password: !vault |'], `          $ANSIBLE_VAULT;1.1;AES256\n          ${sha(r, 80)}\n          ${sha(r, 80)}`, [])),
      () => neg('sealed-secret', place(['kind: SealedSecret', 'spec:', '  encryptedData:'], `    password: AgB${r.chars(r.int(300, 600), B64)}==`, [])),
      () => neg('pgp', place([], pem(r, 'PGP MESSAGE', 6), [])),
      () => neg('kms', place(['# encrypted with KMS key alias/app'], `ENCRYPTED_DB_PASSWORD=AQICAH${r.chars(180, B64)}==`, [])),
      () => neg('vault-transit', place([], `ciphertext: vault:v1:${b64bytes(r, 48)}`, [])),
      () => neg('travis', place(['env:', '  global:'], `    - secure: "${b64bytes(r, 256)}"`, [])),
    ])(),
  'password-hash': (r) =>
    r.pick([
      () => neg('shadow', place(['root:*:19000:0:99999:7:::'], `deploy:$6$${r.chars(16, ALNUM + './')}$${r.chars(86, ALNUM + './')}:19500:0:99999:7:::`, [])),
      () => neg('sql', place(['INSERT INTO users (email, password_hash) VALUES'], `  ('admin@example.com', '$2b$12$${r.chars(53, ALNUM + './')}');`, [])),
      () => neg('yaml', place(['users:', '  - name: admin'], `    password_hash: "$argon2id$v=19$m=65536,t=3,p=4$${r.chars(22, B64.slice(0, 64))}$${r.chars(43, B64.slice(0, 64))}"`, [])),
      () => neg('htpasswd', place([], `admin:$apr1$${r.chars(8, ALNUM)}$${r.chars(22, ALNUM + './')}`, [])),
      () => neg('python', place(['# django fixture'], `"password": "pbkdf2_sha256$600000$${r.chars(22, ALNUM)}$${b64bytes(r, 32)}",`, [])),
    ])(),
  'random-data': (r) =>
    r.pick([
      () => neg('html', place(['<img alt="logo"'], `  src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA${b64bytes(r, r.int(200, 600))}">`, [])),
      () => neg('json', place(['{'], `  "nonce": "${b64bytes(r, 16)}", "salt": "${b64bytes(r, 16)}", "iv": "${b64bytes(r, 12)}",`, ['  "alg": "A256GCM"', '}'])),
      () => neg('url', place([], `https://accounts.example.com/authorize?response_type=code&client_id=web&code_challenge=${r.chars(43, B64URL)}&code_challenge_method=S256&state=${r.chars(22, B64URL)}`, [])),
      () => neg('log', place([], `2024-05-02T10:14:07Z INFO trace_id=${sha(r, 32)} span_id=${sha(r, 16)} msg="cache miss" key=user:${r.int(1000, 99999)}:profile`, [])),
      () => neg('html', place([], `<meta name="csrf-param" content="authenticity_token"><script nonce="${b64bytes(r, 16)}">boot()</script>`, [])),
      () => neg('yaml', place(['clusters:', '- cluster:'], `    certificate-authority-data: ${Buffer.from(pem(r, 'CERTIFICATE', 8)).toString('base64')}`, ['    server: https://10.0.0.1:6443'])),
    ])(),
  identifiers: (r) =>
    r.pick([
      () => neg('ts', place(['export class TokenBucketRateLimiter {'], '  private readonly refillTokensPerSecondFromConfiguration = 10;', ['  tokenizerPassthroughEnabled = false;', '}'])),
      () => neg('python', place([], 'def get_password_reset_token_expiry_seconds(self): return self.PASSWORD_RESET_TOKEN_TTL', [])),
      () => neg('java', place([], 'AbstractAuthenticationTokenSecretKeyResolverFactoryBean resolver = new AbstractAuthenticationTokenSecretKeyResolverFactoryBean();', [])),
      () => neg('ts', place(['const maxTokens = 4096;'], 'const tokenCount = tokenizer.encode(text).length; // count tokens before sending', ['if (tokenCount > maxTokens) throw new Error("too long");'])),
      () => neg('yaml', place(['rules:'], '  - apiGroups: [""]\n    resources: ["secrets", "serviceaccounts/token"]\n    verbs: ["get", "list"]', [])),
    ])(),
  'policy-text': (r) =>
    r.pick([
      () => neg('docs', place([], 'Your password must be at least 12 characters long and contain a number.', ['Tokens expire after 30 days; rotate your API key from the dashboard.'])),
      () => neg('yaml', place(['password_policy:'], `  min_length: ${r.int(8, 16)}\n  require_symbols: true\n  max_age_days: 90`, [])),
      () => neg('json', place(['{'], '  "token_type": "Bearer", "expires_in": 3600, "scope": "read write",', ['  "refresh_token_expires_in": 86400', '}'])),
      () => neg('env', place([], 'PASSWORD_MIN_LENGTH=12', ['TOKEN_TTL_SECONDS=3600', 'API_KEY_HEADER=X-Api-Key', 'SECRET_ROTATION_DAYS=90'])),
    ])(),
  'url-without-credentials': (r) =>
    r.pick([
      () => neg('env', place([], 'DATABASE_URL=postgres://app:${DB_PASSWORD}@db.internal:5432/app', ['REDIS_URL=redis://cache:6379/0'])),
      () => neg('yaml', place([], '  url: https://user:password@example.com/repo.git', [])),
      () => neg('docs', place([], 'mysql://root:<password>@localhost:3306/db', ['git@github.com:acme/api.git'])),
      () => neg('env', place([], `SENTRY_ENVIRONMENT=production`, ['OTEL_EXPORTER_OTLP_ENDPOINT=https://otlp.example.com:4317'])),
    ])(),
  'i18n-and-forms': (r) =>
    r.pick([
      () => neg('json', place(['{', '  "login": "Log in",'], '  "password": "Password", "password_hint": "At least 12 characters", "api_key_label": "API key",', ['  "forgot_password": "Forgot your password?"', '}'])),
      () => neg('html', place(['<form method="post" action="/login">'], `  <input type="hidden" name="csrf_token" value="${r.chars(43, B64URL)}">`, ['  <input type="password" name="password" autocomplete="current-password">', '</form>'])),
      () => neg('yaml', place(['de:', '  auth:'], '    password: Passwort', ['    token_expired: Sitzung abgelaufen'])),
      () => neg('env', place([], `MAPBOX_ACCESS_TOKEN=pk.eyJ1Ijoi${r.chars(40, B64URL)}.${r.chars(22, B64URL)}`, ['MAPBOX_STYLE=mapbox://styles/acme/streets'])),
      () => neg('json', place(['{'], `  "idempotency_key": "${uuid(r)}", "trace_id": "${sha(r, 32)}", "session_id": null,`, ['  "token_type": "Bearer", "expires_in": 3600', '}'])),
      () => neg('k8s', place(['kind: ConfigMap', 'binaryData:'], `  app.yaml: ${Buffer.from(`server:\n  port: 8080\n  password: \${DB_PASSWORD}\n  api_key: \${API_KEY}\n`).toString('base64')}`, [])),
    ])(),
  'test-fixture': (r) => {
    const w = r.pick(SECRET_NAMES);
    return r.pick([
      () => neg('python', place(['def test_login(client):'], `    resp = client.post("/login", json={"user": "alice", "${keyName(w, 'snake')}": "${r.pick(['test', 'secret', 'hunter2', 'wrong-password', 'password123'])}"})`, ['    assert resp.status_code == 401'])),
      () => neg('js', place(["it('rejects a bad token', async () => {"], `  const ${keyName(w, 'camel')} = '${r.pick(['invalid', 'bad-token', 'not-a-real-token', 'expired'])}';`, ['  expect(await verify(token)).toBe(false);', '});'])),
      () => neg('yaml', place(['test:'], `  ${keyName(w, 'snake')}: ${r.pick(['test', 'dummy', 'fake', 'mock-secret', 'testtest'])}`, [])),
    ])();
  },
};

// ---------------------------------------------------------------- evasions

type Evasion = (r: Rng, f: Family, v: string) => Placed;

const keyed = (r: Rng, f: Family, v: string): string => `${keyName(r.pick(f.keys.length > 0 ? f.keys : [['token']]), 'UPPER')}=${v}`;

function splitAt(r: Rng, v: string, pieces: number): string[] {
  const cuts = new Set<number>();
  while (cuts.size < pieces - 1) cuts.add(r.int(2, v.length - 2));
  const sorted = [...cuts].sort((a, b) => a - b);
  const out: string[] = [];
  let at = 0;
  for (const c of sorted) {
    out.push(v.slice(at, c));
    at = c;
  }
  out.push(v.slice(at));
  return out;
}

export const EVASIONS: Record<string, Evasion> = {
  base64: (r, f, v) => {
    const b = Buffer.from(keyed(r, f, v)).toString('base64');
    return r.pick([() => place(['#!/bin/sh'], `echo '${b}' | base64 -d > .env`, []), () => place(['{'], `  "config": "${b}"`, ['}']), () => place(['apiVersion: v1', 'kind: Secret', 'data:'], `  .env: ${b}`, [])])();
  },
  'base64-twice': (r, f, v) => place(['payload = {'], `  "blob": "${Buffer.from(Buffer.from(keyed(r, f, v)).toString('base64')).toString('base64')}",`, ['}']),
  hex: (r, f, v) => place(['# dump'], `data = bytes.fromhex("${Buffer.from(keyed(r, f, v)).toString('hex')}")`, []),
  'url-encoded': (r, f, v) => place(['GET /collect?'], `  q=${[...keyed(r, f, v)].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')}&t=1 HTTP/1.1`, []),
  'unicode-escapes': (r, f, v) => place(['const s ='], `  "${[...keyed(r, f, v)].map((c) => (r.chance(0.5) ? `\\u00${c.charCodeAt(0).toString(16).padStart(2, '0')}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)).join('')}";`, []),
  'zero-width': (r, f, v) => place(['Here you go:'], [...v].map((c) => c + (r.chance(0.5) ? r.pick(['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff']) : '')).join(''), []),
  fullwidth: (_r, _f, v) => place(['Here you go:'], [...v].map((c) => (c >= '!' && c <= '~' ? String.fromCharCode(c.charCodeAt(0) + 0xfee0) : c)).join(''), []),
  'gzip-base64': (r, f, v) => {
    const b = gzipSync(Buffer.from(`${NOISE_ENV.slice(0, 3).join('\n')}\n${keyed(r, f, v)}\n`)).toString('base64');
    return r.pick([() => place(['#!/bin/sh'], `echo ${b} | base64 -d | gunzip > /tmp/env`, []), () => place(['{'], `  "state": "${b}"`, ['}'])])();
  },
  'deflate-base64': (r, f, v) => {
    const raw = Buffer.from(`${keyed(r, f, v)}\n${NOISE_ENV.slice(3, 5).join('\n')}\n`);
    const b = (r.chance(0.5) ? deflateSync(raw) : deflateRawSync(raw)).toString(r.chance(0.5) ? 'base64' : 'base64url');
    return place(['cache:'], `  blob: ${b}`, []);
  },
  reversed: (r, f, v) => {
    const rev = [...v].reverse().join('');
    return r.pick([
      () => place([], `const token = "${rev}".split("").reverse().join("");`, []),
      () => place(['import os'], `TOKEN = "${rev}"[::-1]`, []),
      () => place(['#!/bin/sh'], `export TOKEN=$(echo '${rev}' | rev)`, []),
    ])();
  },
  concatenated: (r, f, v) => {
    const parts = splitAt(r, v, r.int(2, 4));
    return r.pick([
      () => place([], `const token = ${parts.map((p) => `"${p}"`).join(' + ')};`, []),
      () => place(['import requests'], `TOKEN = (${parts.map((p) => `"${p}"`).join('\n         ')})`, []),
      () => place([], `String token = "${parts[0]}" +\n    ${parts.slice(1).map((p) => `"${p}"`).join(' +\n    ')};`, []),
      () => place([], `const token = [${parts.map((p) => `'${p}'`).join(', ')}].join('');`, []),
      () => place([], `TOKEN='${parts.join("''")}'`, []),
    ])();
  },
  'split-lines': (r, f, v) => {
    const parts = splitAt(r, v, r.int(2, 3));
    return r.pick([
      () => place(['#!/bin/sh'], `export TOKEN="${parts.join('\\\n')}"`, []),
      () => place(['token: >-'], parts.map((p) => `  ${p}`).join('\n'), []),
      () => place(['Here is the key, it wrapped in the chat:'], parts.join('\n'), []),
    ])();
  },
};

// ---------------------------------------------------------------- the corpus

export interface CorpusOptions {
  plain?: number;
  evasion?: number;
  negative?: number;
}

/** The corpus for `seed`: `plain` planted credentials (every family at least once), `evasion` encoded or disguised ones, `negative` look-alikes. */
export function generateCorpus(seed: number, opts: CorpusOptions = {}): Sample[] {
  const r = new Rng(seed);
  const nPlain = opts.plain ?? 257;
  const nEvasion = opts.evasion ?? 65;
  const nNegative = opts.negative ?? 248;
  const out: Sample[] = [];

  const families = r.shuffle([...FAMILIES]);
  for (let i = 0; i < nPlain; i++) {
    const f = families[i % families.length]!;
    const v = f.value(r);
    const shapes = f.shapes ?? ALL_SHAPES;
    const renderers: { shape: string; fn: () => Placed }[] = [];
    if (f.keys.length > 0) for (const s of shapes) renderers.push({ shape: s, fn: () => SHAPES[s]!(r, r.pick(f.keys), v) });
    for (const [k, c] of (f.custom ?? []).entries()) {
      // Custom renderers are the family's own formats: weigh them like several shapes.
      for (let w = 0; w < 4; w++) renderers.push({ shape: `custom-${k}`, fn: () => c(r, v) });
    }
    const pickd = r.pick(renderers);
    const p = pickd.fn();
    out.push({ kind: 'plain', family: f.name, shape: pickd.shape, text: p.text, at: p.at });
  }

  const evasionNames = Object.keys(EVASIONS);
  const prefixed = FAMILIES.filter((f) => f.prefixed === true);
  for (let i = 0; i < nEvasion; i++) {
    const e = evasionNames[i % evasionNames.length]!;
    // Reversal and concatenation hide a prefix; encodings hide anything.
    const pool = ['reversed', 'concatenated', 'split-lines', 'zero-width', 'fullwidth'].includes(e) ? prefixed : FAMILIES.filter((f) => f.keys.length > 0);
    const f = r.pick(pool);
    const p = EVASIONS[e]!(r, f, f.value(r));
    out.push({ kind: 'evasion', family: f.name, shape: e, text: p.text, at: p.at });
  }

  const negNames = Object.keys(NEGATIVES);
  for (let i = 0; i < nNegative; i++) {
    const k = negNames[i % negNames.length]!;
    const p = NEGATIVES[k]!(r);
    out.push({ kind: 'negative', family: k, shape: p.shape, text: p.text, at: [0, 0] });
  }
  return out;
}
