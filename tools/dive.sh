#!/usr/bin/env bash
# dive.sh: the post's deep dive, layer by layer, on a lab that `pulumi up` built.
# Runs the commands the post runs by hand (Kubernetes, host, pod, libvirt
# levels) over SSH and prints each under the post's heading, so that a reader
# can follow a VM's packets through Kubernetes on their own lab.
#
#   tools/dive.sh --key FILE --master IP --node IP [--user root] [--port 22]
#                 [--namespace nodejs-ex] [--vm nodejs] [--nodeport 30000]
#
# --master is where kubectl runs (admin.conf); --node is the node that runs the
# VM and the ingress controller (kn1 in the post). A command that fails (a
# missing tool, no such pod yet) is shown with its error and the dive goes on;
# the exit status is the number of commands that failed (at most 100).
set -euo pipefail

key="" master="" node="" user=root port=22 ns=nodejs-ex vm=nodejs nodeport=30000
while (($#)); do
  case $1 in
    --key) key=$2 ;;
    --master) master=$2 ;;
    --node) node=$2 ;;
    --user) user=$2 ;;
    --port) port=$2 ;;
    --namespace) ns=$2 ;;
    --vm) vm=$2 ;;
    --nodeport) nodeport=$2 ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "dive.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift 2
done
[[ -r $key && -n $master && -n $node ]] || { echo "dive.sh: --key (a readable file), --master and --node are required" >&2; exit 2; }
for v in "$ns" "$vm" "$nodeport" "$port"; do
  [[ $v =~ ^[a-z0-9.-]+$ ]] || { echo "dive.sh: '$v' is not a plain name or number" >&2; exit 2; }
done

failed=0
sudo=""
[[ $user == root ]] || sudo="sudo -n "
kubectl="${sudo}kubectl --kubeconfig=/etc/kubernetes/admin.conf"

# on <host> <title> <command>: one step of the dive, bounded in time.
on() {
  local host=$1 title=$2 cmd=$3 rc=0
  printf '\n### %s\n[%s@%s]$ %s\n' "$title" "$user" "$host" "$cmd"
  ssh -i "$key" -p "$port" -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "$user@$host" "timeout 60 bash -c $(printf %q "$cmd")" 2>&1 || rc=$?
  if ((rc != 0)); then
    echo "(exit status $rc)"
    failed=$((failed + 1))
  fi
}

launcher="\$($kubectl get pod -n $ns -l kubevirt.io/domain=$vm -o jsonpath='{.items[0].metadata.name}')"

echo "# Kubernetes-level"
on "$master" "services" "$kubectl get services -n $ns"
on "$master" "endpoints" "$kubectl get endpoints -n $ns"
on "$master" "ingress" "$kubectl get ingress -n $ns"
on "$master" "where the VMs run" "$kubectl get pod -o wide -n $ns"

echo
echo "# Host-level ($node)"
on "$node" "interfaces: eth0, flannel.1 (vxlan), cni0 (bridge)" "${sudo}ip a"
on "$node" "veths on cni0" "${sudo}bridge link show"
on "$node" "routes: a /24 per node via flannel.1" "${sudo}ip r"
on "$node" "kube-proxy's NAT rules for $ns" "${sudo}iptables -n -L -t nat | grep $ns"
on "$node" "NodePort $nodeport" "${sudo}ss -tanp | grep $nodeport"

echo
echo "# Pod-level (virt-launcher of $vm)"
on "$master" "br1 with eth0 and vnet0" "$kubectl exec -n $ns -c compute $launcher -- ip a"
on "$master" "br1's ports" "$kubectl exec -n $ns -c compute $launcher -- bridge link show"
on "$master" "virt-launcher's DHCP server on UDP 67" "$kubectl exec -n $ns -c compute $launcher -- ss -tuapn"
on "$master" "libvirt: vnet0 on br1" "$kubectl exec -n $ns -c compute $launcher -- virsh domiflist ${ns}_${vm}"

echo
echo "dive.sh: $failed command(s) failed"
exit $((failed > 100 ? 100 : failed))
