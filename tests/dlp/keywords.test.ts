// Keyword-anchored detection (src/dlp/keywords.ts, judge.ts): credentials
// without a prefix of their own, found by the key name they are assigned to,
// in the shapes config, code, CI files, logs and HTTP put them in; and the
// look-alikes that must stay quiet (placeholders, references, hashes, code).
import { describe, expect, it } from 'vitest';
import { createScanner, createStreamScanner } from '../../src/dlp/index.js';
import { ALNUM_LOWER, HEX, b64, rnd } from './fixtures.js';

const scanner = createScanner({ detectors: ['token_patterns'] });
const blocking = (text: string): { rule: string; value: string; line: number }[] =>
  scanner
    .scan(text)
    .filter((f) => f.severity === 'block')
    .map((f) => ({ rule: f.rule, value: text.slice(f.start, f.end), line: f.line }));

const uuid = (): string => [rnd(8, HEX), rnd(4, HEX), `4${rnd(3, HEX)}`, `a${rnd(3, HEX)}`, rnd(12, HEX)].join('-');
const password = (): string => `${rnd(4)}!${rnd(5)}#${rnd(3, '0123456789')}`;

/** [family, key name, value, the rule the finding reports] */
type Case = [string, string, string, string];

function familyCases(): Case[] {
  return [
    ['datadog api key', 'DD_API_KEY', rnd(32, HEX), 'datadog-api-key'],
    ['datadog api key', 'datadog_api_key', rnd(32, HEX), 'datadog-api-key'],
    ['datadog app key', 'DD_APP_KEY', rnd(40, HEX), 'datadog-app-key'],
    ['datadog app key', 'DATADOG_APPLICATION_KEY', rnd(40, HEX), 'datadog-app-key'],
    ['heroku api key (a UUID)', 'HEROKU_API_KEY', uuid(), 'heroku-api-key'],
    ['twilio auth token', 'TWILIO_AUTH_TOKEN', rnd(32, HEX), 'twilio-auth-token'],
    ['vercel token', 'VERCEL_TOKEN', rnd(24), 'vercel-token'],
    ['bitbucket app password', 'BITBUCKET_APP_PASSWORD', rnd(20), 'bitbucket-app-password'],
    ['mailgun signing key', 'MAILGUN_API_KEY', `${rnd(32, HEX)}-${rnd(8, HEX)}-${rnd(8, HEX)}`, 'mailgun-api-key'],
    ['vault token (legacy)', 'VAULT_TOKEN', `s.${rnd(24)}`, 'hashicorp-vault-token'],
    ['sentry auth token', 'SENTRY_AUTH_TOKEN', rnd(64, HEX), 'sentry-token'],
    ['okta token', 'OKTA_API_TOKEN', `00${rnd(40)}`, 'okta-token'],
    ['generic api key', 'API_KEY', rnd(40), 'generic-api-key'],
    ['generic client secret', 'client_secret', rnd(32, ALNUM_LOWER), 'generic-api-key'],
    ['generic password', 'DB_PASSWORD', password(), 'generic-password'],
    ['generic password', 'smtpPassword', password(), 'generic-password'],
  ];
}

/** The same key and value written the way each kind of file writes them; the value is on the returned line. */
const SHAPES: Record<string, (k: string, v: string) => [string, number]> = {
  '.env': (k, v) => [`NODE_ENV=production\n${k.toUpperCase()}=${v}\n`, 2],
  'shell export': (k, v) => [`#!/bin/sh\nexport ${k.toUpperCase()}="${v}"\n`, 2],
  json: (k, v) => [`{\n  "region": "eu-west-1",\n  "${k}": "${v}"\n}\n`, 3],
  yaml: (k, v) => [`service:\n  name: api\n  ${k}: ${v}\n`, 3],
  'yaml, quoted': (k, v) => [`service:\n  ${k}: '${v}'\n`, 2],
  ini: (k, v) => [`[default]\nregion = eu-west-1\n${k} = ${v}\n`, 3],
  toml: (k, v) => [`[auth]\n${k} = "${v}"\n`, 2],
  javascript: (k, v) => [`import x from 'y';\nconst ${k} = '${v}';\n`, 2],
  'typescript, typed': (k, v) => [`export const ${k}: string = "${v}";\n`, 1],
  python: (k, v) => [`import os\n${k} = "${v}"\n`, 2],
  'python kwarg': (k, v) => [`client = Client(${k}="${v}", timeout=3)\n`, 1],
  go: (k, v) => [`func main() {\n\t${k} := "${v}"\n}\n`, 2],
  java: (k, v) => [`class C {\n  static final String ${k} = "${v}";\n}\n`, 2],
  'java properties.put': (k, v) => [`props.put("${k}", "${v}");\n`, 1],
  'php define': (k, v) => [`<?php\ndefine('${k}', '${v}');\n`, 2],
  xml: (k, v) => [`<config>\n  <${k}>${v}</${k}>\n</config>\n`, 2],
  'github actions env': (k, v) => [`jobs:\n  deploy:\n    env:\n      ${k.toUpperCase()}: ${v}\n`, 4],
  'kubernetes name/value': (k, v) => [`env:\n  - name: ${k.toUpperCase()}\n    value: "${v}"\n`, 3],
  'cli flag': (k, v) => [`acme deploy --${k.toLowerCase().replace(/_/g, '-')} ${v} --region eu\n`, 1],
  'cli flag with =': (k, v) => [`acme deploy --${k.toLowerCase().replace(/_/g, '-')}=${v}\n`, 1],
  'log line': (k, v) => [`2024-05-02T10:14:07Z DEBUG request path=/v1 ${k}=${v} status=200\n`, 1],
  'json log': (k, v) => [`{"level":"debug","${k}":"${v}","ts":1714644848}\n`, 1],
  'http header': (k, v) => [`POST /v1 HTTP/1.1\nHost: api.example.com\nX-${k.replace(/_/g, '-')}: ${v}\n`, 3],
  'inside a JSON string (a model request)': (k, v) => [`{"messages":[{"role":"user","content":"my config:\\n${k}=\\"${v}\\"\\nthanks"}]}`, 1],
};

describe('keyword-anchored credentials', () => {
  for (const [family, key, value, rule] of familyCases()) {
    it(`finds the ${family} (${key}) in every shape, on its value`, () => {
      for (const [shape, make] of Object.entries(SHAPES)) {
        const [text, line] = make(key, value);
        const found = blocking(text);
        expect(found, `${shape}: ${text}`).toHaveLength(1);
        expect(found[0]!.line, shape).toBe(line);
        // A vendor's name in the key names the rule; http headers rename the key (X-…).
        if (shape !== 'http header') expect(found[0]!.rule, shape).toBe(rule);
        expect(found[0]!.value, shape).toBe(value);
      }
    });
  }

  it('reads assignments that need more than one token: JSON-escaped quotes, netrc, curl --user, concatenated literals', () => {
    const pw = password();
    expect(blocking(`machine api.heroku.com\n  login me@example.com\n  password ${uuid()}\n`).map((f) => f.line)).toEqual([3]);
    expect(blocking(`curl -s --user 'api:${pw}' https://api.example.com/v3\n`).map((f) => [f.rule, f.value])).toEqual([['curl-auth-user', pw]]);
    const key = rnd(40);
    expect(blocking(`api_key = "${key.slice(0, 15)}" + "${key.slice(15)}"\n`).map((f) => f.rule)).toEqual(['generic-api-key']);
    expect(blocking(`PASSWORD = ("${pw.slice(0, 5)}"\n            "${pw.slice(5)}")\n`).map((f) => f.rule)).toEqual(['generic-password']);
  });

  it('finds Authorization: Basic with a real password, and Bearer tokens without a prefix', () => {
    const basic = Buffer.from(`jenkins:${password()}`).toString('base64');
    for (const text of [`Authorization: Basic ${basic}\n`, `curl -H "Authorization: Basic ${basic}" https://x\n`, `proxy_set_header Authorization "Basic ${basic}";\n`, `headers = {'Authorization': 'Basic ${basic}'}\n`]) {
      expect(blocking(text).map((f) => [f.rule, f.value]), text).toEqual([['basic-auth', basic]]);
    }
    const opaque = rnd(48);
    expect(blocking(`Authorization: Bearer ${opaque}\n`).map((f) => f.rule)).toEqual(['bearer-token']);
  });

  it('finds Azure SAS tokens and Service Bus shared access keys, and Sentry DSNs', () => {
    const sig = encodeURIComponent(b64(32));
    const url = `https://acme.blob.core.windows.net/exports/dump.sql?sv=2022-11-02&ss=b&srt=sco&sp=rl&se=2025-01-16T05:00:00Z&st=2024-03-06T00:00:00Z&spr=https&sig=${sig}`;
    expect(blocking(`azcopy copy ./dump.sql "${url}"\n`).map((f) => [f.rule, f.value])).toEqual([['azure-sas-token', sig]]);
    const sak = b64(32);
    expect(blocking(`"ConnectionString": "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=${sak}"\n`).map((f) => f.value)).toEqual([sak]);
    const dsn = `https://${rnd(32, HEX)}@o1094628.ingest.us.sentry.io/7911314`;
    expect(blocking(`Sentry.init({ dsn: '${dsn}' });\n`).map((f) => [f.rule, f.value])).toEqual([['sentry-dsn', dsn]]);
  });

  it('finds Doppler service tokens, which name their config', () => {
    const t = ['dp', 'st', 'dev_api', rnd(40)].join('.');
    expect(blocking(`export const DOPPLER_TOKEN: string = '${t}';\n`).map((f) => [f.rule, f.value])).toEqual([['doppler-token', t]]);
  });

  it('reports one finding when a prefixed rule already matched the value', () => {
    const gh = ['gh', 'p_'].join('');
    const found = blocking(`GITHUB_TOKEN=${gh}${rnd(30)}x\n`);
    // Not a valid GitHub token (no checksum): the key name still says it is a secret.
    expect(found.map((f) => f.rule)).toEqual(['generic-api-key']);
  });
});

describe('keyword look-alikes that must stay quiet', () => {
  const negatives: Record<string, string> = {
    placeholders: ['API_KEY=your-api-key-here', 'password: changeme', 'token: <your-token>', 'SLACK_TOKEN=xoxb-your-bot-token', 'OPENAI_API_KEY=sk-...xxxx', 'api_key: "XXXXXXXXXXXXXXXXXXXXXXXX"', 'password: "********"', 'DD_API_KEY=<DATADOG_API_KEY>', 'secret = "REPLACE_ME"', 'password: password123'].join('\n'),
    references: ['DB_PASSWORD=${DB_PASSWORD}', 'token: ${{ secrets.GITHUB_TOKEN }}', 'api_key = os.environ["API_KEY"]', 'apiKey: process.env.API_KEY,', 'password: {{ .Values.db.password }}', 'client_secret: !Ref ClientSecret', 'PASSWORD=$(cat /run/secrets/db)', 'api_key: arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-AbCdEf', 'token: op://Engineering/api/credential', 'secret = "%API_SECRET%"'].join('\n'),
    'hashes and ciphertext': [`password_hash: "$2b$12$${rnd(53, ALNUM_LOWER)}"`, `password: "$argon2id$v=19$m=65536,t=3,p=4$${rnd(22)}$${rnd(43)}"`, `password: ENC[AES256_GCM,data:${b64(18)},iv:${b64(32)},tag:${b64(16)},type:str]`, `db_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  ${rnd(80, HEX)}`, `sha256: ${rnd(64, HEX)}`].join('\n'),
    'non-secret key names': [`request_id=${uuid()}`, `AZURE_CLIENT_ID=${uuid()}`, `sort_key: createdAt`, `cache_key = "user:${rnd(6, '0123456789')}:profile"`, `public_key: "${b64(32)}"`, `NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY=pk_live_${rnd(24)}`, `next_page_token: ${rnd(24)}`, `max_tokens: 4096`, `primaryKey: ${rnd(20)}`].join('\n'),
    code: ['token = scanner.getToken();', 'const apiKey = config.get("api_key");', 'password = request.form["password"]', 'def get_password_reset_token_expiry(self): return self.PASSWORD_RESET_TOKEN_TTL', 'propertyKey = ToPropertyKey(propertyKey);', 'interface C { apiKey: string; password?: string }', 'this._key = CreateUniqueKey();', 'pass: matchResult?.pass ?? false,', 'if (token === SyntaxKind.Identifier) return;', 'lastSignificantToken = "?NoLineTerminatorHere";'].join('\n'),
    'paths, URLs and words': ['private_key: ~/.ssh/id_ed25519', 'credentials: ./secrets/service-account.json', 'token_url: https://auth.example.com/oauth/token', 'password: hunter2', '"password": "Forgot your password?"', 'secret: my-app-secret', 'auth: true', 'PASSWORD_MIN_LENGTH=12', 'api_key_header: X-Api-Key'].join('\n'),
    'documented and test values': ['Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==', 'Authorization: Basic dXNlcm5hbWU6cGFzc3dvcmQ=', 'Authorization: Bearer <token>', 'Authorization: Bearer $TOKEN', `heroku_api_key: 00000000-0000-0000-0000-000000000000`, 'DATABASE_URL=postgres://postgres:postgres@localhost:5432/app'].join('\n'),
  };
  for (const [name, text] of Object.entries(negatives)) {
    it(`stays quiet on ${name}`, () => {
      expect(blocking(text), text).toEqual([]);
    });
  }
});

describe('keyword values in streams', () => {
  it('waits for a value cut at a chunk end, and reports it whole at the end of the stream', () => {
    const key = rnd(40);
    for (const text of [`api_key=${key}`, `api_key=${key}\nNEXT=1\n`]) {
      for (const size of [7, 50]) {
        const s = createStreamScanner({ detectors: ['token_patterns'], windowChars: 512 });
        const found = [];
        for (let i = 0; i < text.length; i += size) found.push(...s.push(text.slice(i, i + size)));
        found.push(...s.end());
        expect(found.map((f) => [f.rule, text.slice(f.start, f.end)]), `${size}: ${text}`).toEqual([['generic-api-key', key]]);
      }
    }
  });
});
