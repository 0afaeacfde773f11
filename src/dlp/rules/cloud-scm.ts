import { validCrc32Token } from '../checksum.js';
import type { TokenRule } from './types.js';

// Word boundary after a token: the next char may not continue it.
const END = '(?![A-Za-z0-9_])';

export const cloudAndScmRules: TokenRule[] = [
  {
    id: 'aws-access-key-id',
    anchors: ['AKIA', 'ASIA', 'ABIA', 'ACCA', 'AGPA', 'AIDA', 'AROA', 'AIPA', 'ANPA', 'ANVA', 'APKA', 'A3T'],
    re: new RegExp(`(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z2-7]{16}${END}`, 'y'),
    minRun: 20,
  },
  {
    id: 'aws-secret-access-key',
    anchors: ['aws_secret', 'aws_secret_access_key', 'secret_access_key', 'SecretAccessKey'],
    ignoreCase: true,
    re: /[a-z_]{0,24}(?:secret_?access_?key|aws_secret)[a-z_]{0,16}["']?\s{0,4}[:=]{1,2}\s{0,4}["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])/iy,
    group: 1,
  },
  { id: 'gcp-api-key', anchors: ['AIza'], re: new RegExp(`AIza[0-9A-Za-z_-]{35}${END}`, 'y'), minRun: 4 },
  { id: 'gcp-oauth-client-secret', anchors: ['GOCSPX-'], re: /GOCSPX-[A-Za-z0-9_-]{28}(?![A-Za-z0-9_-])/y },
  { id: 'gcp-oauth-access-token', anchors: ['ya29.'], re: /ya29\.[0-9A-Za-z_-]{30,1024}/y },
  {
    id: 'azure-storage-account-key',
    anchors: ['AccountKey='],
    re: /AccountKey=([A-Za-z0-9+/]{86}==)/y,
    group: 1,
  },
  { id: 'azure-shared-access-key', anchors: ['SharedAccessKey='], re: /SharedAccessKey=([A-Za-z0-9+/]{43}=)/y, group: 1 },
  {
    id: 'azure-ad-client-secret',
    // The Q~ marker sits mid-word (after 3 chars + a digit), so it is found by indexOf; Q is rare.
    infix: 'Q~',
    before: /[A-Za-z0-9_.~-]{3}\d$/,
    re: /[A-Za-z0-9_.~-]{3}\dQ~[A-Za-z0-9_.~-]{31,34}(?![A-Za-z0-9_.~-])/y,
  },
  ...(['ghp', 'gho', 'ghu', 'ghs', 'ghr'] as const).map(
    (p): TokenRule => ({
      id: { ghp: 'github-pat', gho: 'github-oauth', ghu: 'github-user-to-server', ghs: 'github-app-token', ghr: 'github-refresh-token' }[p],
      anchors: [`${p}_`],
      re: new RegExp(`${p}_[A-Za-z0-9]{36}${END}`, 'y'),
      minRun: 40,
      validate: (v) => validCrc32Token(v, 4),
    }),
  ),
  {
    id: 'github-fine-grained-pat',
    anchors: ['github_pat_'],
    re: new RegExp(`github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}${END}`, 'y'),
    minRun: 93,
  },
  {
    id: 'gitlab-token',
    anchors: ['glpat-', 'gldt-', 'glrt-', 'glcbt-', 'gloas-', 'glsoat-', 'glffct-', 'glimt-', 'glagent-', 'glft-', 'glptt-'],
    re: /gl(?:pat|dt|rt|cbt|oas|soat|ffct|imt|agent|ft|ptt)-[A-Za-z0-9_.-]{20,300}/y,
  },
  { id: 'gitlab-runner-registration-token', anchors: ['GR1348941'], re: /GR1348941[A-Za-z0-9_-]{20}(?![A-Za-z0-9_-])/y },
  { id: 'bitbucket-app-password', anchors: ['ATBB'], re: /ATBB[A-Za-z0-9_=.-]{32}(?![A-Za-z0-9_=.-])/y, minRun: 20 },
  { id: 'atlassian-api-token', anchors: ['ATATT3'], re: /ATATT3[A-Za-z0-9_=-]{186}(?![A-Za-z0-9_=-])/y },
  {
    id: 'bitbucket-client-secret',
    anchors: ['bitbucket'],
    ignoreCase: true,
    re: /bitbucket[\w.-]{0,20}secret[\w.-]{0,20}["']?\s{0,4}[:=]{1,2}\s{0,4}["']?([a-z0-9=_-]{64})(?![a-z0-9=_-])/iy,
    group: 1,
  },
  { id: 'digitalocean-token', anchors: ['dop_v1_', 'doo_v1_', 'dor_v1_'], re: new RegExp(`do[opr]_v1_[a-f0-9]{64}${END}`, 'y') },
  { id: 'hashicorp-vault-token', anchors: ['hvs.', 'hvb.'], re: /hv[sb]\.[A-Za-z0-9_-]{90,400}/y },
  { id: 'databricks-token', anchors: ['dapi'], re: /dapi[a-f0-9]{32}(?:-\d)?(?![A-Za-z0-9_])/y, minRun: 36 },
  // Service tokens name their config: dp.st.<config>.<40 chars>.
  { id: 'doppler-token', anchors: ['dp.'], re: /dp\.(?:pt|st|sa|ct|scim|audit)\.(?:[A-Za-z0-9_-]{1,60}\.)?[A-Za-z0-9]{40,44}(?![A-Za-z0-9])/y },
  { id: 'pulumi-token', anchors: ['pul-'], re: new RegExp(`pul-[a-f0-9]{40}${END}`, 'y') },
  { id: 'flyio-token', anchors: ['fo1_', 'fm1', 'fm2_'], re: /(?:fo1_[\w-]{43}|fm1[ar]_[A-Za-z0-9+/]{100,}={0,3}|fm2_[A-Za-z0-9+/]{100,}={0,3})/y },
  { id: 'grafana-token', anchors: ['glc_', 'glsa_'], re: /(?:glc_[A-Za-z0-9+/]{32,400}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})/y },
  { id: 'newrelic-key', anchors: ['NRAK', 'NRII', 'NRJS'], re: new RegExp(`(?:NRAK-[A-Z0-9]{27}|NRII-[A-Za-z0-9-]{32}|NRJS-[a-f0-9]{19})${END}`, 'y') },
  { id: 'dynatrace-token', anchors: ['dt0c01.'], re: /dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}/y },
  { id: 'age-secret-key', anchors: ['AGE-SECRET-KEY-'], re: /AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}/y },
  { id: 'sentry-token', anchors: ['sntrys_', 'sntryu_'], re: /(?:sntrys_eyJ[A-Za-z0-9_=+/-]{60,400}|sntryu_[a-f0-9]{64})/y },
  {
    id: 'sentry-dsn',
    // https://<32 hex public key>[:<32 hex secret>]@host/<project id>: found at `://`, kept only with the key's shape.
    infix: '://',
    quick: (text, p) => {
      for (let i = p + 3; i < p + 35; i++) {
        const c = text.charCodeAt(i);
        if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
      }
      const c = text.charCodeAt(p + 35);
      return c === 64 || c === 58;
    },
    before: /(?<![A-Za-z0-9+.-])https?$/,
    re: /https?:\/\/[0-9a-f]{32}(?::[0-9a-f]{32})?@[A-Za-z0-9.-]{1,253}(?::\d{1,5})?\/(?:[\w.-]{1,64}\/)?\d{1,12}(?![\w])/y,
  },
  { id: 'alibaba-access-key-id', anchors: ['LTAI'], re: /LTAI[A-Za-z0-9]{12,20}(?![A-Za-z0-9_])/y, minRun: 16 },
  { id: 'onepassword-token', anchors: ['ops_eyJ'], re: /ops_eyJ[A-Za-z0-9+/]{200,1000}={0,3}/y },
];
