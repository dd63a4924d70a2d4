"""A one-node SLURM cluster on localhost for tests (root only).

Debian's SLURM 22.05 (`slurm-wlm`, `munge`): `munged`, `slurmctld` and
`slurmd` run in the foreground as children of the test, with every state,
spool, log, key and socket file under a temporary ``root``. The configuration
goes to SLURM's default place, ``/etc/slurm/slurm.conf`` (and ``gres.conf``),
for the time the cluster runs: the SLURM executor's job step removes every
``SLURM_*`` variable, ``SLURM_CONF`` included, before its ``srun``, so the
default place is the only one a job step finds. A machine with its own
``/etc/slurm/slurm.conf`` is left alone (``ClusterError``). There is no
accounting storage (no `sacct`), processes are tracked without cgroups, and the
node declares one GPU as a generic resource backed by ``/dev/null``, so that
``--gpus=1`` and ``--gres=gpu:1`` are accepted and a job sees
``CUDA_VISIBLE_DEVICES=0`` (there is no GPU behind it). The node's CPUs and
memory are declared, not probed (``config_overrides``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd")
PARTITION = "test"
CONF_DIR = Path("/etc/slurm")
MARK = "# written by analog-tl tests/slurm_cluster.py; removed when its test cluster stops"


class ClusterError(RuntimeError):
    """The local cluster could not be installed or started."""


def install_packages(timeout_s: float = 600) -> None:
    """apt-get install slurm-wlm and munge when a daemon is missing (needs root and the Debian mirror)."""
    if all(shutil.which(name) or Path("/usr/sbin", name).exists() for name in DAEMONS):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
        if result.returncode != 0:
            raise ClusterError(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def foreign_configuration(conf_dir: Path = CONF_DIR) -> Path | None:
    """A SLURM configuration file in ``conf_dir`` that this module did not write, if any."""
    for path in (conf_dir / "slurm.conf", conf_dir / "gres.conf"):
        if path.exists() and MARK not in path.read_text(errors="replace"):
            return path
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _daemon(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


@dataclass
class LocalSlurm:
    """Handle on the running cluster: ``env`` holds what clients need (``SLURM_CONF``)."""

    root: Path
    host: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    cpus: int = 8  # declared, not probed (config_overrides): the profile's requests fit on a small machine
    memory_mb: int = 64000
    port: int = field(default_factory=_free_port)
    conf_dir: Path = CONF_DIR
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.conf_dir / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def _claim_configuration(self) -> None:
        """Refuse to replace a SLURM configuration this module did not write."""
        foreign = foreign_configuration(self.conf_dir)
        if foreign is not None:
            raise ClusterError(f"{foreign} exists: this machine has its own SLURM; the test cluster leaves it alone")
        self.conf_dir.mkdir(parents=True, exist_ok=True)

    def write_configuration(self) -> None:
        self._claim_configuration()
        for folder in ("state", "spool", "log", "munge"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "munge", 0o700)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        r = self.root
        self.conf.write_text(
            "\n".join(
                [
                    MARK,
                    "ClusterName=analogtltest",
                    f"SlurmctldHost={self.host}(127.0.0.1)",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    f"AuthInfo=socket={r}/munge/munge.sock",
                    f"SlurmctldPort={self.port}",
                    f"SlurmdPort={_free_port()}",
                    f"StateSaveLocation={r}/state",
                    f"SlurmdSpoolDir={r}/spool",
                    f"SlurmctldPidFile={r}/log/slurmctld.pid",
                    f"SlurmdPidFile={r}/log/slurmd.pid",
                    f"SlurmctldLogFile={r}/log/slurmctld.log",
                    f"SlurmdLogFile={r}/log/slurmd.log",
                    "SlurmdParameters=config_overrides",
                    "MinJobAge=3600",  # finished jobs stay visible to scontrol (there is no accounting)
                    "MpiDefault=none",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "JobCompType=jobcomp/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_CPU",
                    "ReturnToService=2",
                    "SchedulerType=sched/builtin",
                    "GresTypes=gpu",
                    f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} "
                    "Gres=gpu:1 State=UNKNOWN",
                    f"PartitionName={PARTITION} Nodes={self.host} Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        (self.conf_dir / "gres.conf").write_text(f"{MARK}\nName=gpu File=/dev/null\n")

    def _start(self, name: str, *args: str) -> None:
        log = open(self.root / "log" / f"{name}.out", "w")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            [_daemon(name), *args], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start(self, timeout_s: float = 60) -> None:
        """Write the configuration, start the three daemons, wait until the node is idle."""
        self.write_configuration()
        m = self.root / "munge"
        self._start("munged", "--foreground", "--force", f"--socket={m}/munge.sock", f"--key-file={m}/munge.key",
                    f"--pid-file={m}/munged.pid", f"--log-file={m}/munged.log", f"--seed-file={m}/munged.seed")
        self._wait(lambda: (m / "munge.sock").exists(), "munged to open its socket", timeout_s)
        self._start("slurmctld", "-D", "-i", "-f", str(self.conf))
        self._start("slurmd", "-D", "-f", str(self.conf))
        self._wait(self.node_idle, "the node to become idle", timeout_s)

    def node_idle(self) -> bool:
        result = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], env=self.env, capture_output=True, text=True)
        return result.returncode == 0 and result.stdout.strip() == "idle"

    def job_info(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` as a dict (TimeLimit, Partition, NumCPUs, TresPerJob, ...)."""
        result = subprocess.run(["scontrol", "show", "job", "-o", job_id], env=self.env, capture_output=True,
                                text=True, check=True)
        return dict(item.split("=", 1) for item in result.stdout.split() if "=" in item)

    def _wait(self, ready, what: str, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_s
        while not ready():
            dead = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
            if dead or time.monotonic() > deadline:
                raise ClusterError(f"timed out waiting for {what}; exited daemons {dead}\n{self.logs()}")
            time.sleep(0.2)

    def logs(self) -> str:
        """The tail of every daemon log, for failure messages."""
        parts = []
        for path in sorted([*(self.root / "log").glob("*.log"), *(self.root / "log").glob("*.out"),
                            *(self.root / "munge").glob("*.log")]):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-1500:]}")
        return "\n".join(parts)

    def stop(self, timeout_s: float = 20) -> None:
        """Stop the daemons this handle started, by PID (slurmd, slurmctld, then munged)."""
        for name in reversed(DAEMONS):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout_s)
        for path in (self.conf, self.conf_dir / "gres.conf"):
            if path.exists() and MARK in path.read_text(errors="replace"):
                path.unlink()
