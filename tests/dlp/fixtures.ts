// Fake credentials are assembled at test time from pieces, so the repository
// never contains a literal provider-shaped secret (push protection would flag it).
import { base62, crc32 } from '../../src/dlp/checksum.js';

let seed = 0x1234567;
/** Deterministic pseudo-random chars (xorshift), so failures reproduce. */
export function rnd(n: number, alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'): string {
  let out = '';
  for (let i = 0; i < n; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    out += alphabet[(seed >>> 0) % alphabet.length];
  }
  return out;
}

export const UPPER32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export const HEX = '0123456789abcdef';
export const LOWER = 'abcdefghijklmnopqrstuvwxyz';
export const ALPHA = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const ALNUM_LOWER = 'abcdefghijklmnopqrstuvwxyz0123456789';

const j = (...parts: string[]): string => parts.join('');
/** Base64 of `n` pseudo-random bytes. */
export const b64 = (n: number): string => Buffer.from(rnd(2 * n, HEX), 'hex').toString('base64');

/** A token in the GitHub/npm format: prefix + 30 random + base62(crc32) of those 30. */
export function checksummed(prefix: string): string {
  const body = rnd(30);
  return prefix + body + base62(crc32(body), 6);
}

export function jwt(): string {
  const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({ sub: rnd(8), iat: 1700000000 })}.${rnd(43)}`;
}

/** One positive sample per rule id. */
export function positives(): Record<string, string> {
  return {
    'aws-access-key-id': j('AK', 'IA', rnd(16, UPPER32)),
    'aws-secret-access-key': `aws_secret_access_key = ${rnd(40)}`,
    'gcp-api-key': j('AI', 'za', rnd(35)),
    'gcp-oauth-client-secret': j('GOC', 'SPX-', rnd(28)),
    'gcp-oauth-access-token': j('ya', '29.', rnd(60)),
    'azure-storage-account-key': `DefaultEndpointsProtocol=https;AccountName=x;${j('Account', 'Key=')}${rnd(86)}==`,
    'azure-ad-client-secret': j(rnd(3), '8', 'Q~', rnd(34)),
    'github-pat': checksummed(j('gh', 'p_')),
    'github-oauth': checksummed(j('gh', 'o_')),
    'github-user-to-server': checksummed(j('gh', 'u_')),
    'github-app-token': checksummed(j('gh', 's_')),
    'github-refresh-token': checksummed(j('gh', 'r_')),
    'github-fine-grained-pat': j('github', '_pat_', rnd(22), '_', rnd(59)),
    'gitlab-token': j('gl', 'pat-', rnd(20)),
    'gitlab-runner-registration-token': j('GR13', '48941', rnd(20)),
    'bitbucket-app-password': j('AT', 'BB', rnd(32)),
    'atlassian-api-token': j('ATA', 'TT3', rnd(186)),
    'bitbucket-client-secret': `BITBUCKET_CLIENT_SECRET=${rnd(64, ALNUM_LOWER)}`,
    'digitalocean-token': j('dop', '_v1_', rnd(64, HEX)),
    'hashicorp-vault-token': j('hv', 's.', rnd(95)),
    'databricks-token': j('da', 'pi', rnd(32, HEX)),
    'doppler-token': j('dp', '.pt.', rnd(43)),
    'pulumi-token': j('pul', '-', rnd(40, HEX)),
    'flyio-token': j('fo', '1_', rnd(43)),
    'grafana-token': j('gl', 'sa_', rnd(32), '_', rnd(8, HEX)),
    'newrelic-key': j('NR', 'AK-', rnd(27, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789')),
    'dynatrace-token': j('dt0', 'c01.', rnd(24, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'), '.', rnd(64, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789')),
    'age-secret-key': j('AGE-SECRET', '-KEY-1', rnd(58, 'QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L')),
    'sentry-token': j('sntry', 'u_', rnd(64, HEX)),
    'onepassword-token': j('ops', '_eyJ', rnd(220)),
    'npm-token': checksummed(j('np', 'm_')),
    'pypi-token': j('pypi', '-AgEIcHlwaS5vcmc', rnd(60)),
    'rubygems-token': j('ruby', 'gems_', rnd(48, HEX)),
    'nuget-api-key': j('oy', '2', rnd(43, ALNUM_LOWER)),
    'dockerhub-pat': j('dckr', '_pat_', rnd(27)),
    'crates-io-token': j('ci', 'o', rnd(32)),
    'terraform-cloud-token': j(rnd(14), '.atlas', 'v1.', rnd(67)),
    'anthropic-api-key': j('sk-', 'ant-', 'api03-', rnd(93), 'AA'),
    'openai-api-key': j('sk-', rnd(20), 'T3Blbk', 'FJ', rnd(20)),
    'openai-project-key': j('sk-', 'proj-', rnd(120)),
    'huggingface-token': j('hf', '_', rnd(34, ALPHA)),
    'groq-api-key': j('gs', 'k_', rnd(52)),
    'replicate-api-token': j('r8', '_', rnd(37)),
    'perplexity-api-key': j('pp', 'lx-', rnd(48)),
    'xai-api-key': j('xa', 'i-', rnd(80)),
    'cohere-api-key': `COHERE_API_KEY="${rnd(39)}7"`,
    'mistral-api-key': `mistral_key: ${rnd(31)}3`,
    'deepseek-api-key': `DEEPSEEK_API_KEY=sk-${rnd(31)}1`,
    'together-api-key': `together_api_key = "${rnd(63)}5"`,
    'slack-token': j('xo', 'xb-', '1234567890', '-', '1234567890123', '-', rnd(24)),
    'slack-app-token': j('xa', 'pp-1-', 'A0123ABCDE', '-', '1234567890', '-', rnd(64, HEX)),
    'slack-webhook': j('https://hooks', '.slack.com/services/', 'T0', rnd(8, UPPER32), '/B0', rnd(8, UPPER32), '/', rnd(24)),
    'discord-webhook': j('https://discord', '.com/api/webhooks/', '123456789012345678', '/', rnd(68)),
    'discord-bot-token': j('M', rnd(25), '.', rnd(6), '.', rnd(38)),
    'telegram-bot-token': j('123456789', ':AA', rnd(33)),
    'twilio-api-key': j('S', 'K', rnd(32, HEX)),
    'sendgrid-api-key': j('S', 'G.', rnd(22), '.', rnd(43)),
    'mailgun-api-key': j('ke', 'y-', rnd(32, HEX)),
    'mailchimp-api-key': j(rnd(32, HEX), '-us', '12'),
    'linear-api-key': j('lin', '_api_', rnd(40)),
    'shopify-token': j('shp', 'at_', rnd(32, HEX)),
    'stripe-key': j('sk', '_live_', rnd(24)),
    'stripe-webhook-secret': j('wh', 'sec_', rnd(32)),
    'square-token': j('sq0', 'atp-', rnd(22)),
    'braintree-access-token': j('access_token', '$production$', rnd(16, ALNUM_LOWER), '$', rnd(32, HEX)),
    'postman-api-key': j('PM', 'AK-', rnd(24, HEX), '-', rnd(34, HEX)),
    'figma-pat': j('fi', 'gd_', rnd(40)),
    'planetscale-token': j('pscale', '_tkn_', rnd(40)),
    'heroku-api-key': j('HR', 'KU-AA', rnd(58)),
    'netlify-token': j('nf', 'p_', rnd(36)),
    'notion-token': j('nt', 'n_', rnd(11, '0123456789'), rnd(35)),
    'airtable-pat': j('pat', rnd(14), '.', rnd(64, HEX)),
    'private-key': ['-----BEGIN', ' RSA PRIVATE', ' KEY-----', '\n', rnd(64), '\n', '-----END RSA PRIVATE KEY-----'].join(''),
    'putty-private-key': j('PuTTY-User-', 'Key-File-3: ssh-ed25519'),
    jwt: jwt(),
    'url-credentials': j('postgres://', 'admin:', rnd(16), '@db.internal:5432/app'),
    'azure-shared-access-key': j('Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=Root;', 'SharedAccess', 'Key=', b64(32)),
    'sentry-dsn': j('https://', rnd(32, HEX), '@o123456.ingest.sentry.io/', '1234567'),
    'alibaba-access-key-id': j('LT', 'AI', rnd(20)),
    'mapbox-secret-token': j('sk.', 'eyJ1Ijoi', rnd(50), '.', rnd(22)),
    'shippo-api-token': j('shippo', '_live_', rnd(40, HEX)),
    'contentful-token': j('CFP', 'AT-', rnd(43)),
    'supabase-token': j('sb', 'p_', rnd(40, HEX)),
    'prefect-api-key': j('pn', 'u_', rnd(36)),
    'readme-api-key': j('rd', 'me_', rnd(70, ALNUM_LOWER)),
    'easypost-api-key': j('EZ', 'AK', rnd(54)),
    'flutterwave-secret-key': j('FLW', 'SECK-', rnd(32, HEX), '-X'),
    'duffel-token': j('duffel', '_live_', rnd(43)),
    'frameio-token': j('fio', '-u-', rnd(64)),
    'clojars-token': j('CLOJ', 'ARS_', rnd(60, ALNUM_LOWER)),
    'adafruit-io-key': j('ai', 'o_', rnd(28)),
    'dropbox-token': j('sl', '.', rnd(135)),
    'basic-auth': `Authorization: Basic ${Buffer.from(`deploy:${rnd(16)}`).toString('base64')}`,
    'bearer-token': `Authorization: Bearer ${rnd(40)}`,
  };
}
