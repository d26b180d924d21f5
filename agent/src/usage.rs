//! Usage text of every `serf` subcommand, printed for `-h`/`-help`/`--help`
//! and after a usage error (Serf's conventions: help on stderr and exit 0;
//! an unknown flag names the flag on stderr, usage on stdout, exit 1).

const RPC: &str = "
  -rpc-addr=127.0.0.1:7373  RPC address of the agent (or $SERF_RPC_ADDR).
  -rpc-auth=\"\"              RPC auth token of the agent (or $SERF_RPC_AUTH).";

/// The usage of `cmd`, or `None` for an unknown command.
pub fn of(cmd: &str) -> Option<String> {
    let (head, flags, rpc) = match cmd {
        "agent" => (AGENT, "", false),
        "event" => (
            "Usage: serf event [options] name [payload]

  Sends a user event to every member of the cluster. A payload that starts
  with '-' can follow the name: flags end at the first argument.",
            "
  -coalesce=true/false      Allow members to coalesce events of this name
                            arriving close together (only the newest is
                            handled). Default true.",
            true,
        ),
        "force-leave" => (
            "Usage: serf force-leave [options] name

  Marks a failed member as left, so the cluster stops trying to reconnect.",
            "
  -prune                    Also remove it from the member list at once.",
            true,
        ),
        "info" => (
            "Usage: serf info [options]

  Shows the agent's state and counters, for operators.",
            "
  -format=text              Output format: text or json.",
            true,
        ),
        "join" => (
            "Usage: serf join [options] address ...

  Tells the agent to join a cluster through one or more of its members.",
            "
  -replay                   Replay past user events (as a new member would).",
            true,
        ),
        "keygen" => (
            "Usage: serf keygen

  Prints a new random 32-byte encryption key in base64, for -encrypt or
  'serf keys -install'.",
            "",
            false,
        ),
        "keys" => (
            "Usage: serf keys [options]

  Changes the encryption keyring on every member of the cluster at once.
  Exits 0 when every member answered and none failed, 1 otherwise.",
            "
  -install=<key>            Install a key on every member (decryption only,
                            until it becomes the primary key).
  -use=<key>                Make an installed key the primary (encrypting) key.
  -remove=<key>             Remove a key; the primary key cannot be removed.
  -list                     List every key in the cluster and how many
                            members hold it.",
            true,
        ),
        "leave" => (
            "Usage: serf leave [options]

  Makes the agent leave the cluster gracefully and shut down.",
            "",
            true,
        ),
        "members" => (
            "Usage: serf members [options]

  Lists the members the agent knows. Filters are regular expressions that
  must match the whole value.",
            "
  -detailed                 Show protocol versions too (text output only).
  -format=text              Output format: text or json.
  -name=<regexp>            Only members whose name matches.
  -status=<regexp>          Only members whose status matches (alive,
                            leaving, left, failed).
  -tag <key>=<regexp>       Only members whose tag <key> matches; can be
                            given several times.
  -role=<regexp>            Deprecated: the same as -tag role=<regexp>.
  -nearest=N                Only the N nearest live members by estimated
                            round trip time, with an rtt column.",
            true,
        ),
        "monitor" => (
            "Usage: serf monitor [options]

  Streams the agent's log lines until interrupted.",
            "
  -log-level=info           Most verbose level shown: trace, debug, info,
                            warn or err.",
            true,
        ),
        "query" => (
            "Usage: serf query [options] name [payload]

  Sends a query to the cluster and prints the acknowledgements and
  responses that arrive before the timeout.",
            "
  -format=text              Output format: text or json.
  -no-ack                   Do not ask members to acknowledge.
  -node=NAME                Only this member answers; can be given several
                            times.
  -tag key=regexp           Only members whose tag matches answer; can be
                            given several times.
  -relay-factor=N           Each responder also sends its answer through N
                            other members (for lossy networks).
  -timeout=15s              How long to wait (default: scaled by cluster
                            size).",
            true,
        ),
        "reachability" => (
            "Usage: serf reachability [options]

  Checks that every live member answers a query (network reachability).",
            "
  -verbose                  Show each acknowledgement and the timing.",
            true,
        ),
        "rtt" => (
            "Usage: serf rtt [options] node1 [node2]

  Estimates the round trip time between two members from their network
  coordinates (between node1 and this agent when node2 is left out).",
            "",
            true,
        ),
        "tags" => (
            "Usage: serf tags [options]

  Changes the agent's tags; the cluster learns them at once.",
            "
  -set key=value            Create or change a tag; can be given several times.
  -delete key               Remove a tag; can be given several times.",
            true,
        ),
        "version" => (
            "Usage: serf version

  Prints the version of this program.",
            "",
            false,
        ),
        _ => return None,
    };
    let mut s = head.to_string();
    if !flags.is_empty() || rpc {
        s.push_str("\n\nOptions:\n");
        s.push_str(flags);
        if rpc {
            s.push_str(RPC);
        }
    }
    Some(s)
}

const AGENT: &str = "Usage: serf agent [options]

  Runs a Serf agent until it is interrupted (SIGINT leaves the cluster
  gracefully).

Options:

  -bind=0.0.0.0:7946        Address to bind the gossip port to (a host name
                            or IP, with an optional port).
  -iface=NAME               Bind to this network interface's address.
  -advertise=ADDR           Address other members reach this one at.
  -node=NAME                Node name (default: the host name).
  -tag key=value            A tag; can be given several times.
  -tags-file=PATH           Keep tags in this file (read at start, rewritten
                            on change).
  -role=ROLE                Deprecated: the same as -tag role=ROLE.
  -encrypt=KEY              Base64 key that encrypts gossip ('serf keygen').
  -keyring-file=PATH        Keep the keyring in this file.
  -label=LABEL              Cluster label: members with another label are
                            kept apart.
  -profile=lan              Timing profile: lan, wan or local.
  -protocol=5               Serf protocol version to speak (2 to 5).
  -wire=hashicorp           Wire format: hashicorp (memberlist's and
                            Serf's, so HashiCorp Serf agents and ours form
                            one cluster), or native (this agent's own, for
                            clusters of ours only; carries responses over
                            one packet in chunks).
  -runtime=auto             What drives the member: uring (io_uring), std
                            (a thread on a blocking socket), or auto (uring
                            where the kernel offers it).
  -join=ADDR                Join through this member at start; can be given
                            several times.
  -replay                   Replay past user events when joining.
  -retry-join=ADDR          Keep trying to join through this member.
  -retry-interval=30s       Time between retry-join attempts.
  -retry-max=0              Retries after the first attempt (0: forever).
  -snapshot=PATH            Snapshot file: members and clocks survive restarts.
  -rejoin                   Rejoin from the snapshot even after a leave.
  -event-handler=SPEC       Run a script on events ([filter=]script); can be
                            given several times.
  -rpc-addr=127.0.0.1:7373  Address of the RPC port.
  -rpc-auth=TOKEN           Token RPC clients must present.
  -log-level=info           Most verbose level logged: trace, debug, info,
                            warn or err.
  -syslog                   Also send the log to the local syslog (/dev/log,
                            or $SERF_SYSLOG_SOCKET).
  -syslog-facility=LOCAL0   Syslog facility for -syslog.
  -broadcast-timeout=5s     How long a leave waits for its broadcast.
  -config-file=PATH         Read a JSON configuration file (Serf's keys).
  -config-dir=PATH          Read every .json file in this directory.
  -discover=NAME            mDNS discovery: not supported (refused).";

#[cfg(test)]
mod tests {
    #[test]
    fn every_client_command_has_a_usage_naming_itself() {
        for cmd in [
            "agent",
            "event",
            "force-leave",
            "info",
            "join",
            "keygen",
            "keys",
            "leave",
            "members",
            "monitor",
            "query",
            "reachability",
            "rtt",
            "tags",
            "version",
        ] {
            let u = super::of(cmd).unwrap();
            assert!(u.starts_with(&format!("Usage: serf {cmd}")), "{u}");
        }
        assert!(super::of("nope").is_none());
    }
}
