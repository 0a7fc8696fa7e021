"""Host-to-host replication of checkpoints: the pure logic (no Ansible).

Each compute host pushes its vnodes' checkpoints to its peers itself, over
SSH on the site LANs, with rsync's delta transfer against the peer's copy of
the vnode's previous checkpoint: the controller carries no checkpoint data.

- Each host has its own replication key, made on the host (0600), which never
  leaves it; only its public half is read.
- A peer authorizes that key for rsync writes into its checkpoint store only:
  ``command="rrsync -wo -no-lock <store>/<cluster>",restrict`` (no shell, no
  forwarding, no pty; -no-lock: several peers push at once).
- Each host knows its peers' host keys at their LAN addresses (taken from the
  controller's verified known_hosts, never scanned): host keys stay checked.

rrsync anchors every path at its root (``<store>/<cluster>``), measured on
this machine (bench/results/delta-replication.md): the destination is
``<id>/.incoming-<vnode>/`` (the receiving host verifies and accepts it as
for any copy) and the basis ``--link-dest=/<previous id>/<vnode>`` with a
leading '/' (meaning the root); an absolute server path there would silently
degrade to a full copy, and '..' is refused.
"""

import posixpath
import shlex

RRSYNC = "/usr/bin/rrsync"
KEY_COMMENT = "vcluster-replication"


class ReplicationError(ValueError):
    """A replication setting that cannot work (reported, nothing done)."""


def _one_line(text, what):
    text = str(text).strip()
    if not text or "\n" in text or "\r" in text:
        raise ReplicationError("%s must be one line" % what)
    return text


def authorized_key(pubkey, root, source):
    """The authorized_keys line on a peer for ``source``'s replication key
    (``pubkey``: "ssh-ed25519 AAAA... [comment]"), allowed only to write with
    rsync under ``root`` (the peer's <store>/<cluster>)."""
    parts = _one_line(pubkey, "the public key").split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
        raise ReplicationError("%s: not an OpenSSH public key: %r" % (source, pubkey))
    if not posixpath.isabs(root) or '"' in root or " " in root:
        raise ReplicationError("%s: the replication root %r must be an absolute path without spaces or quotes"
                               % (source, root))
    return 'command="%s -wo -no-lock %s",restrict %s %s %s:%s' % (RRSYNC, posixpath.normpath(root), parts[0],
                                                                  parts[1], KEY_COMMENT, source)


def known_hosts(peers):
    """known_hosts lines for ``peers`` ({host: {"address": LAN address,
    "hostkey": "ssh-ed25519 AAAA..."}}), sorted by host."""
    out = []
    for host in sorted(peers):
        key = _one_line(peers[host]["hostkey"], "%s's host key" % host).split()
        if len(key) < 2:
            raise ReplicationError("%s: no host key" % host)
        out.append("%s %s %s" % (peers[host]["address"], key[0], key[1]))
    return out


def hostkey_of(known_hosts_text, address):
    """The host key ("type base64") that a known_hosts text (plain, not
    hashed) records for ``address``, or None."""
    for line in known_hosts_text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and not line.startswith(("#", "@")) and address in fields[0].split(","):
            return "%s %s" % (fields[1], fields[2])
    return None


def _ckpt(ckpt):
    text = str(ckpt)
    if not (text.isdigit() or text == "migrate"):
        raise ReplicationError("%r is not a checkpoint id" % (ckpt,))
    return text


def incoming(ckpt, vnode):
    """Where a pushed copy of ``vnode`` lands, relative to the peer's rrsync
    root: the incoming directory the peer verifies and accepts (ft_host.accept)."""
    return "%s/.incoming-%s/%s/" % (_ckpt(ckpt), vnode, vnode)


def stored(ckpt, vnode):
    """A vnode's accepted copy, relative to the rrsync root."""
    return "%s/%s" % (_ckpt(ckpt), vnode)


def push_argv(source_dir, peer, key, known_hosts_file, ckpt, vnode, basis=None, mbit=None, user="root"):
    """The command a host runs to push its copy ``source_dir`` of ``vnode``
    in checkpoint ``ckpt`` to ``peer`` (its LAN address): rsync over SSH with
    the host's replication key, host keys checked against
    ``known_hosts_file``, at the lowest CPU and I/O priority, capped at
    ``mbit`` (Mbit/s) when given. ``basis``: a directory on the peer,
    relative to its rrsync root (``stored()`` or ``incoming()``), holding an
    earlier copy of the vnode: rsync sends only what differs from it, and
    hard-links the files that are identical (nothing stored twice)."""
    if mbit is not None and not (isinstance(mbit, (int, float)) and not isinstance(mbit, bool) and mbit > 0):
        raise ReplicationError("the bandwidth cap %r is not a positive number of Mbit/s" % (mbit,))
    ssh = ["ssh", "-i", key, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
           "-o", "UserKnownHostsFile=" + known_hosts_file, "-o", "HostKeyAlgorithms=ssh-ed25519",
           "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
    argv = ["nice", "-n", "19", "ionice", "-c", "3", "rsync", "-a", "--delete", "--stats", "--mkpath",
            "-e", shlex.join(ssh)]
    if basis:
        # --checksum: a file counts as unchanged (hard-linked to the basis)
        # only when its content matches; rsync's default quick check (size
        # and mtime to the whole second) links a same-sized file rewritten
        # within the second, and rrsync refuses the nanosecond check
        # (--modify-window=-1). Without a basis there is nothing to compare:
        # no checksums (they cost a read of every file on both sides).
        argv.append("--checksum")
        if basis.startswith("/") or ".." in basis.split("/"):
            raise ReplicationError("the basis %r must be relative to the peer's store" % (basis,))
        # rrsync anchors a leading '/' at its root (a plain relative path would
        # be taken from the destination directory)
        argv.append("--link-dest=/" + basis.rstrip("/"))
    if mbit is not None:
        argv.append("--bwlimit=%d" % max(1, int(mbit * 1e6 / 8 / 1024)))  # rsync counts KiB/s
    argv += [source_dir.rstrip("/") + "/", "%s@%s:%s" % (user, peer, incoming(ckpt, vnode))]
    return argv


def sent_bytes(stats_output):
    """The bytes rsync sent, from its --stats output (rsync's own report,
    the only place it gives the number), or None."""
    for line in stats_output.splitlines():
        if line.startswith("Total bytes sent:"):
            try:
                return int(line.split(":", 1)[1].strip().replace(",", "").split()[0])
            except (ValueError, IndexError):
                return None
    return None


def chain_pushes(ids, vnode, basis=None):
    """[(ckpt, basis)] for pushing the chain members ``ids`` (oldest first)
    of ``vnode``: the first against the peer's copy of checkpoint ``basis``
    (when given), each later one against the one pushed before it (still in
    the peer's incoming directory)."""
    out = []
    previous = stored(basis, vnode) if basis not in (None, "") else None
    for ckpt in ids:
        out.append((ckpt, previous))
        previous = incoming(ckpt, vnode)
    return out
