/** Where things live inside every bottle, whatever the backend. */
export const GUEST_HOME = '/home/agent';
export const GUEST_USER = 'agent';
export const GUEST_UID = 1000;
/** The bottle's egress CA alone (for NODE_EXTRA_CA_CERTS and Codex). */
export const GUEST_CA_FILE = '/etc/bot-bottle/ca.pem';
/** Host roots + the bottle CA at the path Debian's tools read by default (curl ignores SSL_CERT_FILE). */
export const GUEST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
export const GUEST_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin';
