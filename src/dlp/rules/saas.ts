import type { TokenRule } from './types.js';

const END = '(?![A-Za-z0-9_])';

export const saasRules: TokenRule[] = [
  { id: 'slack-token', anchors: ['xoxb-', 'xoxp-', 'xoxa-', 'xoxo-', 'xoxr-', 'xoxs-', 'xoxe'], re: /xox(?:[bpaors]|e(?:\.xox[bp])?)-(?:\d{1,14}-){0,3}[A-Za-z0-9-]{10,250}/y },
  { id: 'slack-app-token', anchors: ['xapp-'], re: /xapp-\d-[A-Z0-9]{6,15}-\d{6,15}-[a-f0-9]{20,80}/y },
  {
    id: 'slack-webhook',
    anchors: ['hooks.slack.com/'],
    re: /hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9+/_-]{40,120}/y,
  },
  {
    id: 'discord-webhook',
    anchors: ['discord.com/', 'discordapp.com/'],
    re: /discord(?:app)?\.com\/api\/webhooks\/\d{16,20}\/[A-Za-z0-9_-]{60,72}/y,
  },
  {
    id: 'discord-bot-token',
    anchors: ['M', 'N', 'O'],
    re: /[MNO][A-Za-z0-9]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}(?![A-Za-z0-9_-])/y,
    minRun: 24,
  },
  {
    id: 'telegram-bot-token',
    anchors: ['AA'],
    before: /(?<![0-9])[0-9]{8,10}:$/,
    quick: (text, at) => text.charCodeAt(at - 1) === 58,
    re: /[0-9]{8,10}:AA[A-Za-z0-9_-]{33}(?![A-Za-z0-9_-])/y,
  },
  { id: 'twilio-api-key', anchors: ['SK'], re: new RegExp(`SK[0-9a-fA-F]{32}${END}`, 'y'), minRun: 34 },
  { id: 'sendgrid-api-key', anchors: ['SG.'], re: /SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/y },
  { id: 'mailgun-api-key', anchors: ['key-', 'pubkey-'], re: new RegExp(`(?:pub)?key-[a-f0-9]{32}${END}`, 'y') },
  { id: 'mailchimp-api-key', anchors: ['us0', 'us1', 'us2', 'us3', 'us4', 'us5', 'us6', 'us7', 'us8', 'us9'], quick: (text, at) => text.charCodeAt(at - 1) === 45, before: /(?<![A-Za-z0-9])[a-f0-9]{32}-$/, re: new RegExp(`[a-f0-9]{32}-us[0-9]{1,2}${END}`, 'y') },
  { id: 'linear-api-key', anchors: ['lin_api_', 'lin_oauth_'], re: new RegExp(`(?:lin_api_[A-Za-z0-9]{40}|lin_oauth_[a-f0-9]{64})${END}`, 'y') },
  { id: 'shopify-token', anchors: ['shpat_', 'shpca_', 'shppa_', 'shpss_'], re: new RegExp(`shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}${END}`, 'y'), minRun: 38 },
  { id: 'stripe-key', anchors: ['sk_', 'rk_'], re: new RegExp(`[sr]k_(?:live|test|prod)_[A-Za-z0-9]{10,247}${END}`, 'y'), minRun: 18 },
  { id: 'stripe-webhook-secret', anchors: ['whsec_'], re: new RegExp(`whsec_[A-Za-z0-9+/]{32,100}`, 'y') },
  { id: 'square-token', anchors: ['sq0atp-', 'sq0csp-', 'EAAA'], re: /(?:sq0atp-[A-Za-z0-9_-]{22}|sq0csp-[A-Za-z0-9_-]{43}|EAAA[A-Za-z0-9_-]{60})(?![A-Za-z0-9_-])/y },
  {
    id: 'braintree-access-token',
    anchors: ['access_token$'],
    re: /access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32}/y,
  },
  { id: 'postman-api-key', anchors: ['PMAK-'], re: /PMAK-[a-f0-9]{24}-[a-f0-9]{34}(?![A-Za-z0-9_])/y },
  { id: 'figma-pat', anchors: ['figd_'], re: /figd_[A-Za-z0-9_-]{40}(?![A-Za-z0-9_-])/y },
  { id: 'planetscale-token', anchors: ['pscale_tkn_', 'pscale_pw_', 'pscale_oauth_'], re: /pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32,64}/y },
  { id: 'heroku-api-key', anchors: ['HRKU-'], re: /HRKU-AA[A-Za-z0-9_-]{58}(?![A-Za-z0-9_-])/y },
  { id: 'netlify-token', anchors: ['nfp_'], re: new RegExp(`nfp_[A-Za-z0-9]{36}${END}`, 'y') },
  { id: 'notion-token', anchors: ['ntn_', 'secret_'], re: new RegExp(`(?:ntn_[0-9]{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43})${END}`, 'y') },
  { id: 'airtable-pat', anchors: ['pat'], noJoin: true, re: /pat[A-Za-z0-9]{14}\.[a-f0-9]{64}(?![A-Za-z0-9_])/y, minRun: 17 },
];
