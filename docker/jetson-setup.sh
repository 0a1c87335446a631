#!/usr/bin/env bash
# First boot of a freshly flashed Jetson Xavier NX (JetPack 5.1, L4T r35): everything `docker compose up`
# needs, each step checked and said. Run once, as root, from the repository:
#
#   sudo docker/jetson-setup.sh [--power-mode N] [--user NAME] [--check]
#
# 1. L4T r35 (JetPack 5) is installed.
# 2. Docker and the NVIDIA container runtime (apt package nvidia-container, from JetPack's repository).
# 3. Compose v2: JetPack 5's docker.io 20.10 has no compose plugin, and Ubuntu focal's docker-compose 1.25
#    cannot read compose.yaml; the v2 plugin binary is installed for the Docker CLI (checked by sha256).
# 4. The user joins the docker group (log out and in afterwards).
# 5. The power mode the service runs in is set before TensorRT engines are built (TensorRT picks kernels by
#    timing them, so an engine built at 10 W is not the best one at 20 W), and jetson_clocks pins the clocks.
# 6. Room for the image: the l4t-pytorch r35 base is about 11.7 GB, so Docker's data-root needs >= 20 GB free
#    (a 16 GB eMMC module has not: move the data-root to NVMe or SD, README "Jetson").
# 7. Docker starts after nvargus-daemon (a systemd drop-in), so that the CSI socket exists when the
#    container starts at boot.
# --check only reports each step, changing nothing.
set -euo pipefail

POWER_MODE=8            # Xavier NX, JetPack 5: 8 = MODE_20W_6CORE (`nvpmodel -q` names the current one)
TARGET_USER="${SUDO_USER:-}"
CHECK_ONLY=0
COMPOSE_VERSION=v2.29.7
COMPOSE_URL="https://github.com/docker/compose/releases/download/$COMPOSE_VERSION/docker-compose-linux-aarch64"
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
MIN_FREE_GB=20
DROP_IN=/etc/systemd/system/docker.service.d/after-nvargus.conf

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --power-mode) POWER_MODE="$2"; shift 2 ;;
        --user) TARGET_USER="$2"; shift 2 ;;
        --check) CHECK_ONLY=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "error: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

ok() { echo "ok:   $*"; }
todo() { echo "todo: $*"; }
fail() { echo "fail: $*" >&2; exit 1; }
act() { if [ "$CHECK_ONLY" = 1 ]; then todo "$*"; return 1; fi; echo "run:  $*"; }

[ "$CHECK_ONLY" = 1 ] || [ "$(id -u)" = 0 ] || fail "run as root (sudo $0), or with --check"

# 1. JetPack 5
if grep -q "^# R35" /etc/nv_tegra_release 2>/dev/null; then
    ok "L4T $(head -1 /etc/nv_tegra_release | cut -d, -f1-2)"
else
    fail "this is not L4T r35 (JetPack 5): /etc/nv_tegra_release says '$(head -1 /etc/nv_tegra_release 2>/dev/null || echo missing)'"
fi

# 2. Docker and the NVIDIA runtime
if command -v docker >/dev/null && docker info 2>/dev/null | grep -qi 'runtimes:.*nvidia'; then
    ok "Docker $(docker version --format '{{.Server.Version}}' 2>/dev/null) with the nvidia runtime"
elif act "apt-get install nvidia-container (Docker + NVIDIA container runtime)"; then
    apt-get update
    apt-get install -y nvidia-container curl
    systemctl restart docker
    docker info 2>/dev/null | grep -qi 'runtimes:.*nvidia' || fail "Docker has no nvidia runtime after the install"
    ok "Docker with the nvidia runtime"
fi

# 3. Compose v2
if docker compose version >/dev/null 2>&1; then
    ok "$(docker compose version)"
elif act "install the Compose $COMPOSE_VERSION plugin into $PLUGIN_DIR"; then
    mkdir -p "$PLUGIN_DIR"
    tmp="$(mktemp -d)"
    curl -fsSL "$COMPOSE_URL" -o "$tmp/docker-compose"
    curl -fsSL "$COMPOSE_URL.sha256" -o "$tmp/docker-compose.sha256"
    expected="$(cut -d' ' -f1 "$tmp/docker-compose.sha256")"
    actual="$(sha256sum "$tmp/docker-compose" | cut -d' ' -f1)"
    [ "$expected" = "$actual" ] || fail "compose download has sha256 $actual, expected $expected"
    install -m 0755 "$tmp/docker-compose" "$PLUGIN_DIR/docker-compose"
    rm -rf "$tmp"
    ok "$(docker compose version)"
fi

# 4. docker group
if [ -z "$TARGET_USER" ]; then
    todo "no user given (--user NAME): add yours with 'usermod -aG docker NAME'"
elif id -nG "$TARGET_USER" | tr ' ' '\n' | grep -qx docker; then
    ok "$TARGET_USER is in the docker group"
elif act "add $TARGET_USER to the docker group"; then
    usermod -aG docker "$TARGET_USER"
    ok "$TARGET_USER added to the docker group: log out and in"
fi

# 5. Power mode and clocks, before the first `docker compose up` builds the engines
if ! command -v nvpmodel >/dev/null; then
    todo "nvpmodel not found: set the power mode in the desktop's power menu"
else
    current="$(nvpmodel -q 2>/dev/null | tail -1 | tr -d ' ')"
    if [ "$current" = "$POWER_MODE" ]; then
        ok "power mode $POWER_MODE ($(nvpmodel -q 2>/dev/null | head -1))"
    elif act "nvpmodel -m $POWER_MODE (was $current)"; then
        nvpmodel -m "$POWER_MODE"
        ok "power mode $POWER_MODE: $(nvpmodel -q 2>/dev/null | head -1)"
    fi
    if [ "$CHECK_ONLY" = 0 ] && command -v jetson_clocks >/dev/null; then
        jetson_clocks
        ok "clocks pinned with jetson_clocks (until the next reboot)"
    fi
fi

# 6. Free space under Docker's data-root
root_dir="$(docker info --format '{{.DockerRootDir}}' 2>/dev/null || echo /var/lib/docker)"
probe="$root_dir"; while [ ! -d "$probe" ]; do probe="$(dirname "$probe")"; done
free_gb="$(df -P -BG "$probe" | awk 'NR==2 {sub("G", "", $4); print $4}')"
if [ "${free_gb:-0}" -ge "$MIN_FREE_GB" ]; then
    ok "$free_gb GB free under Docker's data-root $root_dir"
else
    fail "only ${free_gb:-0} GB free under Docker's data-root $root_dir; the image needs >= $MIN_FREE_GB GB." \
        "Move the data-root to NVMe or SD: stop docker, rsync -a $root_dir/ /mnt/nvme/docker/, set" \
        "\"data-root\": \"/mnt/nvme/docker\" in /etc/docker/daemon.json (keep its nvidia runtime entries), start docker"
fi

# 7. Docker after nvargus-daemon
if ! systemctl list-unit-files nvargus-daemon.service >/dev/null 2>&1; then
    todo "no nvargus-daemon service (no CSI camera support installed): nothing to order"
elif [ -f "$DROP_IN" ]; then
    ok "Docker starts after nvargus-daemon ($DROP_IN)"
elif act "order Docker after nvargus-daemon ($DROP_IN)"; then
    mkdir -p "$(dirname "$DROP_IN")"
    printf '[Unit]\nWants=nvargus-daemon.service\nAfter=nvargus-daemon.service\n' > "$DROP_IN"
    systemctl daemon-reload
    ok "Docker starts after nvargus-daemon ($DROP_IN)"
fi

# The CSI camera's socket must exist before the container starts (compose mounts it).
if [ -S /tmp/argus_socket ]; then
    ok "nvargus-daemon socket /tmp/argus_socket"
elif [ -d /tmp/argus_socket ]; then
    todo "/tmp/argus_socket is a directory (Docker created it while nvargus-daemon was down):" \
        "rm -r /tmp/argus_socket && systemctl restart nvargus-daemon"
else
    todo "no /tmp/argus_socket: for a CSI camera, systemctl restart nvargus-daemon; for USB only, set ARGUS_SOCKET=/dev/null in .env"
fi
echo "next: cp -n .env.example .env, edit it, then: docker compose up -d && docker compose logs -f edge"
