// The binding of steps/join-command/join-command.sh: the token's time to live.
export const script = "join-command.sh";
export const args = (ttl: string) => ({ ttl });
