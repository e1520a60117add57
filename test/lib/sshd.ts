// A real OpenSSH server inside a sandbox (test/lib/sandbox.ts), on 127.0.0.1 of the sandbox's own
// network namespace: a host for the tests of what the program does over SSH (host keys, the etcd
// snapshot's fetch), with a client key generated for it. Nothing leaves the namespace.
import assert from "node:assert/strict";
import { Sandbox } from "./sandbox";

export interface Sshd {
    /** The client's private key (OpenSSH PEM text) that root's authorized_keys accepts. */
    clientKey: string;
    /** The server's host key as ssh-keyscan prints it after the address: `ssh-ed25519 <base64>`. */
    hostKey: string;
    /** Gives the server a new host key (a rebuilt host) and restarts it; resolves with the new key. */
    rekey(): Promise<string>;
}

const DIR = "/etc/kvl-sshd";

/** Starts sshd on 127.0.0.1:<port> in the sandbox (loopback brought up), root's login by key only. */
export async function startSshd(sb: Sandbox, port = 22): Promise<Sshd> {
    const run = async (cmd: string) => {
        const r = await sb.runAsync(cmd, { timeoutMs: 30_000 });
        assert.equal(r.code, 0, `${cmd}\n${r.stdout}${r.stderr}`);
        return r.stdout;
    };
    await run(`set -e
      ip link set lo up
      mkdir -p ${DIR} /run/sshd /root/.ssh && chmod 700 /root/.ssh
      rm -f ${DIR}/client ${DIR}/client.pub
      ssh-keygen -q -t ed25519 -N '' -C kvl-test-client -f ${DIR}/client
      cp ${DIR}/client.pub /root/.ssh/authorized_keys
      printf '%s\\n' 'Port ${port}' 'ListenAddress 127.0.0.1' 'HostKey ${DIR}/host_ed25519' 'PermitRootLogin prohibit-password' \\
        'PasswordAuthentication no' 'KbdInteractiveAuthentication no' 'UsePAM no' 'StrictModes no' 'PidFile ${DIR}/sshd.pid' \\
        'AuthorizedKeysFile /root/.ssh/authorized_keys' > ${DIR}/sshd_config`);
    const rekey = async () => {
        await run(`set -e
          [ ! -f ${DIR}/sshd.pid ] || kill "$(cat ${DIR}/sshd.pid)" 2>/dev/null || true
          for i in $(seq 50); do [ ! -f ${DIR}/sshd.pid ] || ! kill -0 "$(cat ${DIR}/sshd.pid)" 2>/dev/null && break; sleep 0.1; done
          rm -f ${DIR}/host_ed25519 ${DIR}/host_ed25519.pub ${DIR}/sshd.pid
          ssh-keygen -q -t ed25519 -N '' -f ${DIR}/host_ed25519
          $(command -v sshd || echo /usr/sbin/sshd) -f ${DIR}/sshd_config </dev/null >/dev/null 2>&1
          for i in $(seq 50); do ssh-keyscan -T 1 -p ${port} 127.0.0.1 >/dev/null 2>&1 && break; sleep 0.1; done`);
        return (await run(`cut -d' ' -f1,2 ${DIR}/host_ed25519.pub`)).trim();
    };
    const hostKey = await rekey();
    const clientKey = await run(`cat ${DIR}/client`);
    return { clientKey, hostKey, rekey };
}
