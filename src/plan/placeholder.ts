/** What the agent sees where a credential would be; egress replaces it with the real one. */
export const PLACEHOLDER_TOKEN = 'bot-bottle-placeholder-egress-injects-the-real-token';
