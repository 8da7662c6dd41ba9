# shellcheck shell=bash
# What the step scripts share: the checked region, the annex-cdk flags, writes to the runner's
# files that must not be lost silently, and a Markdown fence its content cannot close.
# Sourced by the scripts, never run.

# AWS region names (us-east-1, us-gov-west-1, ap-southeast-4): a region variable is copied
# into command lines, the job summary and the PR comment, so nothing else is let through.
region_pattern='^[a-z]{2}(-[a-z]+)+-[0-9]+$'

# The reason the region is refused, or nothing. The value itself is never echoed.
region_problem() {
  if [ -z "${AWS_REGION:-}" ]; then
    echo "set AWS_REGION (a repository variable, e.g. us-east-1)"
  elif ! [[ $AWS_REGION =~ $region_pattern ]]; then
    echo "AWS_REGION is not an AWS region name (like us-east-1)"
  fi
}

# Fills the array `args`: the region, --no-local, one --allow-from per CIDR of ANNEX_ALLOW_FROM,
# then ANNEX_CDK_ARGS. Both are split on blanks and never globbed: a `*` stays a `*`.
annex_args() {
  local -a cidrs=() extra=()
  read -r -d '' -a cidrs <<<"${ANNEX_ALLOW_FROM:-}" || true
  read -r -d '' -a extra <<<"${ANNEX_CDK_ARGS:-}" || true
  args=(--region "$AWS_REGION" --no-local)
  local cidr
  for cidr in "${cidrs[@]}"; do args+=(--allow-from "$cidr"); done
  args+=("${extra[@]}")
}

# Appends stdin to a runner file (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY); a write that fails
# fails the step (exit 2) instead of losing what the next job reads.
append_to() {
  local name=$1 file=${!1:-}
  if [ -z "$file" ]; then
    cat >/dev/null
    return 0
  fi
  if ! cat >>"$file"; then
    echo "::error::cannot write $name ($file): the step's results would be lost" >&2
    exit 2
  fi
}

# A code fence longer than any run of backquotes in the file, so the file cannot end it.
fence_for() {
  local longest
  longest=$(grep -o '`\+' "$1" | awk '{ if (length($0) > n) n = length($0) } END { print n + 0 }')
  if [ "$longest" -lt 3 ]; then longest=2; fi
  printf '`%.0s' $(seq 0 "$longest")
}
