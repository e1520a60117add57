// The binding of steps/dnsmasq-records/dnsmasq-records.sh: the records of the nodes and the
// ingress wildcard (its address an Output in the program, a string in npm run drift).
import type { DnsSettings, HostSpec } from "../../components/config";

export const script = "dnsmasq-records.sh";
export const args = <A>(s: DnsSettings, domain: string, nodes: readonly HostSpec[], ingressAddress: A) => ({
    "conf-path": s.configPath,
    "ingress-domain": `ingress.${domain}`,
    "ingress-ip": ingressAddress,
    record: nodes.map((h) => `${h.name}=${h.address}`),
});
export const removeArgs = (s: DnsSettings) => ({ "conf-path": s.configPath });
