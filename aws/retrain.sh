#!/usr/bin/env bash
# Retrain the emotion model on an AWS GPU instance (g4dn, NVIDIA T4) and publish it for the devices.
#
#   aws/retrain.sh --bucket s3://my-bucket [--data fer2013] [--people people] [--width 128] [--epochs 40]
#                  [--gpus N] [--dry-run] [--resign RUN_ID]
#
# Steps: check prerequisites, build the training image, sync the data set from S3, train, evaluate,
# export ONNX, train the identity head when --people names a data/<people>/<person>/<photos> prefix,
# upload everything to s3://BUCKET/runs/RUN_ID/, print the device command that installs it.
# --gpus N (g4dn.12xlarge: 4) trains on N GPUs with torchrun. --dry-run prints every step without
# doing it. --bucket may be a local folder (a fake bucket for tests). --resign RUN_ID signs new device
# links for a published run (no training) when the old ones expired. Runs from any directory.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

BUCKET=""
DATA="fer2013"
PEOPLE=""
WIDTH=128
EPOCHS=40
GPUS=1
DRY_RUN=0
RESIGN=0
RUN_ID="$(date -u +%Y%m%d-%H%M%S)"
WORK="${WORK:-$PWD/aws-work}"
IMAGE="edge-train:latest"
# Presigned links for the devices, in seconds: 7 days, S3's maximum, holds only for links signed with an
# IAM user's long-term keys. Links signed with an instance role's temporary credentials stop working when
# that role session ends (hours), whatever the expiry says: the script warns when that is the case.
URL_EXPIRY=604800

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --bucket) BUCKET="$2"; shift 2 ;;
        --data) DATA="$2"; shift 2 ;;
        --people) PEOPLE="$2"; shift 2 ;;
        --width) WIDTH="$2"; shift 2 ;;
        --epochs) EPOCHS="$2"; shift 2 ;;
        --gpus) GPUS="$2"; shift 2 ;;
        --run-id) RUN_ID="$2"; shift 2 ;;
        --resign) RUN_ID="$2"; RESIGN=1; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "error: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done
[ -n "$BUCKET" ] || { echo "error: --bucket s3://NAME (or a local folder) is required" >&2; exit 2; }
[[ "$GPUS" =~ ^[1-9][0-9]*$ ]] || { echo "error: --gpus needs a positive number, not '$GPUS'" >&2; exit 2; }

LOCAL_BUCKET=0
case "$BUCKET" in
    s3://*) ;;
    *) LOCAL_BUCKET=1; if [ -d "$BUCKET" ]; then BUCKET="$(cd "$BUCKET" && pwd)"; fi ;;
esac
RUN_DIR="$WORK/runs/$RUN_ID"
DEST="${BUCKET%/}/runs/$RUN_ID"

run() {
    echo "+ $*"
    if [ "$DRY_RUN" = 0 ]; then "$@"; fi
}

copy() {  # copy FROM TO, between S3 and local or between local folders
    if [ "$LOCAL_BUCKET" = 1 ]; then run mkdir -p "$2"; run cp -r "$1/." "$2/"; else run aws s3 sync "$1" "$2"; fi
}

check_prerequisites() {
    local missing=()
    command -v docker >/dev/null || missing+=("docker (install Docker: the Deep Learning AMI has it)")
    if ! command -v nvidia-smi >/dev/null || ! nvidia-smi >/dev/null 2>&1; then
        missing+=("an NVIDIA GPU and driver (use a g4dn instance with the Deep Learning AMI)")
    fi
    if [ "$LOCAL_BUCKET" = 0 ]; then
        if ! command -v aws >/dev/null; then
            missing+=("the AWS CLI (pip install awscli)")
        elif ! aws sts get-caller-identity >/dev/null 2>&1; then
            missing+=("AWS credentials (aws configure, or an instance role with S3 access)")
        elif ! aws s3 ls "$BUCKET" >/dev/null 2>&1; then
            missing+=("access to bucket $BUCKET (aws s3 mb $BUCKET to create it)")
        fi
    elif [ ! -d "$BUCKET" ]; then
        missing+=("the local bucket folder $BUCKET")
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        printf 'missing: %s\n' "${missing[@]}" >&2
        if [ "$DRY_RUN" = 0 ]; then exit 1; fi
        echo "(dry run: continuing to print the plan)" >&2
    fi
}

warn_short_lived_links() {
    [ "$LOCAL_BUCKET" = 0 ] && [ "$DRY_RUN" = 0 ] || return 0
    local arn
    arn="$(aws sts get-caller-identity --query Arn --output text 2>/dev/null || true)"
    case "$arn" in
        *:assumed-role/*)
            echo "warning: signing with temporary role credentials ($arn): the device links expire with" \
                "this role session (typically 1-12 hours), not in $((URL_EXPIRY / 86400)) days. Install on the" \
                "devices soon, or sign with an IAM user's access keys for links that last." >&2 ;;
    esac
}

check_prerequisites
warn_short_lived_links
echo "run $RUN_ID: width $WIDTH, $EPOCHS epochs, data ${BUCKET%/}/data/$DATA -> $DEST"

TRAIN=(docker run --rm --gpus all --shm-size 2g --user "$(id -u):$(id -g)" -v "$WORK:/work" "$IMAGE")
run docker build -t "$IMAGE" -f "$REPO/aws/Dockerfile" "$REPO"
if [ "$RESIGN" = 1 ]; then
    [ -d "$RUN_DIR" ] || copy "$DEST" "$RUN_DIR"
else
copy "${BUCKET%/}/data/$DATA" "$WORK/data/$DATA"
EMOTION=("${TRAIN[@]}")
if [ "$GPUS" -gt 1 ]; then  # one process per GPU; each batch is split across them
    EMOTION=(docker run --rm --gpus all --shm-size 2g --user "$(id -u):$(id -g)" -v "$WORK:/work" --entrypoint torchrun "$IMAGE"
        --nproc-per-node "$GPUS" -m training)
fi
run "${EMOTION[@]}" emotion --train "/work/data/$DATA/train" --val "/work/data/$DATA/val" \
    --width "$WIDTH" --epochs "$EPOCHS" --out "/work/runs/$RUN_ID/emotion"
run "${TRAIN[@]}" evaluate-emotion --data "/work/data/$DATA/val" \
    --model "/work/runs/$RUN_ID/emotion/model.pt" --usage PublicTest --out "/work/runs/$RUN_ID/eval"
if [ -n "$PEOPLE" ]; then
    copy "${BUCKET%/}/data/$PEOPLE" "$WORK/data/$PEOPLE"
    # The image holds the VGGFace2 weights (aws/Dockerfile), so the head is trained on the embeddings the
    # Jetson runs; the head file records them and a device running another embedder refuses it.
    run "${TRAIN[@]}" identity --data "/work/data/$PEOPLE" --out "/work/runs/$RUN_ID/identity/identity_head.pt"
    run "${TRAIN[@]}" evaluate-identity "/work/data/$PEOPLE" --out "/work/runs/$RUN_ID/identity/evaluation.json"
fi
fi
# Devices have no AWS credentials: they get presigned HTTPS links (signing needs no object yet).
WEIGHTS="emotion_resnet9_w$WIDTH.pt"
link() {
    if [ "$LOCAL_BUCKET" = 1 ]; then echo "file://$1"
    elif [ "$DRY_RUN" = 1 ]; then echo "<presigned URL of $1>"
    else aws s3 presign "$1" --expires-in "$URL_EXPIRY"; fi
}
# Each link is signed on a line of its own: a failing `aws s3 presign` inside another command's
# argument would not stop the script (set -e does not see it) and would publish an empty URL.
WEIGHTS_URL="$(link "$DEST/publish/$WEIGHTS")"
INT8_URL="$(link "$DEST/publish/${WEIGHTS%.pt}_int8.onnx")"  # CPU hosts run this one
run "${TRAIN[@]}" publish-emotion --run "/work/runs/$RUN_ID/emotion" --out "/work/runs/$RUN_ID/publish" \
    --url "$WEIGHTS_URL" --int8-url "$INT8_URL"
copy "$RUN_DIR" "$DEST"
ENTRY_URL="$(link "$DEST/publish/emotion.json")"
cat <<MSG

Published run $RUN_ID to $DEST (weights, ONNX, INT8 ONNX, calibration, metrics, plots).
On the device, install it (downloads, checks sha256, updates the manifest) and restart:
  docker compose exec edge python3 -m edge install-model '$ENTRY_URL'
  docker compose restart edge
MSG
if [ -n "$PEOPLE" ] || [ -f "$RUN_DIR/identity/identity_head.pt" ]; then
    HEAD_URL="$(link "$DEST/identity/identity_head.pt")"
    cat <<MSG
The identity head (trained on VGGFace2 embeddings, as the Jetson runs): copy it into the data volume and
name it in .env, then recreate the container (.env is read by 'up', not by 'restart'):
  curl -fsSL '$HEAD_URL' -o identity_head.pt && docker compose cp identity_head.pt edge:/data/identity_head.pt
  echo EDGE_IDENTITY__HEAD=/data/identity_head.pt >> .env && docker compose up -d
MSG
fi
if [ "$LOCAL_BUCKET" = 0 ]; then
    cat <<MSG
These links expire in $((URL_EXPIRY / 86400)) days at most, and with the role session when signed by an
instance role (hours). To sign new ones for this run later, without training:
  $REPO/aws/retrain.sh --bucket $BUCKET --resign $RUN_ID
MSG
fi
