#!/usr/bin/env bash
# Kafka ACLs for riskmon: each process gets only the topics and groups it uses.
#
#   acls.sh [--dry-run] [--remove] [PARAMS_FILE]
#
#   PARAMS_FILE  shell assignments (default: principals.env beside this script); see that file
#   --dry-run    print the kafka-acls.sh commands instead of running them (needs no Kafka)
#   --remove     remove the same ACLs instead of adding them (kafka-acls.sh --remove --force)
#
# Run it as the admin principal (a super user of the brokers, see README.md). Adding an ACL that
# exists is harmless, so the script can be run again after a change of parameters; ACLs of a
# principal or agency removed from the parameters are NOT removed: run --remove with the old
# parameters first.
#
# Who gets what (topic names are the defaults; ops on a resource imply Describe on it):
#
#   agency-<name>  Write  its input topics (riskmon.incidents / .readings / .safety / .cap /
#                         .complaints)
#   worker         Read   inputs, riskmon.identity, riskmon.located, riskmon.alert-input,
#                         riskmon.alert-acks
#                  Write  riskmon.identity, riskmon.located, .scores, .deadletter, .alert-input, .alerts,
#                         .alert-ack-results, .safety and .complaints-located (complaints stage)
#                  Create, Read, Write on topics prefixed "<app_id>-" (Faust's own:
#                         <app_id>-__assignor-__leader; changelogs if tables are ever used)
#                  Read   group <app_id>
#   sink           Read   riskmon.located, .scores, .deadletter, .alerts, .complaints-located;
#                         group <app_id>-sink
#                  Describe the other riskmon topics (its start-up step checks all of them)
#   gateway        Read   riskmon.scores, .alerts, .alert-ack-results (no consumer group: it
#                         reads every partition itself)
#                  Write  riskmon.alert-acks
#   status (opt.)  Read   every riskmon topic (`riskmon status` fetches one record per partition
#                         to learn the log end); Describe groups <app_id> and <app_id>-sink
#
# Nobody but the admin can create riskmon.* topics unless WORKER_CREATES_TOPICS=yes.
set -euo pipefail

DRY_RUN=0
ACTION=--add
PARAMS=""
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY_RUN=1 ;;
        --remove) ACTION=--remove ;;
        -h | --help)
            sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        -*)
            echo "acls.sh: unknown option $arg (see --help)" >&2
            exit 2
            ;;
        *)
            if [[ -n "$PARAMS" ]]; then
                echo "acls.sh: one parameters file only" >&2
                exit 2
            fi
            PARAMS=$arg
            ;;
    esac
done
PARAMS=${PARAMS:-"$(dirname "$0")/principals.env"}
[[ "$PARAMS" == */* ]] || PARAMS="./$PARAMS" # `source name` would search PATH
if [[ ! -r "$PARAMS" ]]; then
    echo "acls.sh: cannot read parameters file $PARAMS" >&2
    exit 2
fi
# shellcheck source=principals.env
source "$PARAMS"

# Defaults: riskmon's own defaults, or the RISKMON_* settings when they are in the environment.
KAFKA_ACLS=${KAFKA_ACLS:-kafka-acls.sh}
BOOTSTRAP=${BOOTSTRAP:-${RISKMON_KAFKA_BOOTSTRAP:-}}
COMMAND_CONFIG=${COMMAND_CONFIG:-./admin.properties}
APP_ID=${APP_ID:-${RISKMON_APP_ID:-riskmon}}
TOPIC_INCIDENTS=${TOPIC_INCIDENTS:-${RISKMON_TOPICS__INCIDENTS:-riskmon.incidents}}
TOPIC_READINGS=${TOPIC_READINGS:-${RISKMON_TOPICS__READINGS:-riskmon.readings}}
TOPIC_SAFETY=${TOPIC_SAFETY:-${RISKMON_TOPICS__SAFETY:-riskmon.safety}}
TOPIC_CAP=${TOPIC_CAP:-${RISKMON_TOPICS__CAP:-riskmon.cap}}
TOPIC_COMPLAINTS=${TOPIC_COMPLAINTS:-${RISKMON_TOPICS__COMPLAINTS:-riskmon.complaints}}
TOPIC_COMPLAINTS_LOCATED=${TOPIC_COMPLAINTS_LOCATED:-${RISKMON_TOPICS__COMPLAINTS_LOCATED:-riskmon.complaints-located}}
TOPIC_LOCATED=${TOPIC_LOCATED:-${RISKMON_TOPICS__LOCATED:-riskmon.located}}
TOPIC_IDENTITY=${TOPIC_IDENTITY:-${RISKMON_TOPICS__IDENTITY:-riskmon.identity}}
TOPIC_SCORES=${TOPIC_SCORES:-${RISKMON_TOPICS__SCORES:-riskmon.scores}}
TOPIC_DEADLETTER=${TOPIC_DEADLETTER:-${RISKMON_TOPICS__DEADLETTER:-riskmon.deadletter}}
TOPIC_ALERTS=${TOPIC_ALERTS:-${RISKMON_TOPICS__ALERTS:-riskmon.alerts}}
TOPIC_ALERT_ACKS=${TOPIC_ALERT_ACKS:-${RISKMON_TOPICS__ALERT_ACKS:-riskmon.alert-acks}}
TOPIC_ALERT_INPUT=${TOPIC_ALERT_INPUT:-${RISKMON_TOPICS__ALERT_INPUT:-riskmon.alert-input}}
TOPIC_ACK_RESULTS=${TOPIC_ACK_RESULTS:-${RISKMON_TOPICS__ACK_RESULTS:-riskmon.alert-ack-results}}
WORKER_USER=${WORKER_USER:-riskmon-worker}
SINK_USER=${SINK_USER:-riskmon-sink}
GATEWAY_USER=${GATEWAY_USER:-riskmon-gateway}
STATUS_USER=${STATUS_USER:-}
AGENCIES=${AGENCIES:-}
WORKER_CREATES_TOPICS=${WORKER_CREATES_TOPICS:-no}

if [[ -z "$BOOTSTRAP" ]]; then
    echo "acls.sh: set BOOTSTRAP (host:port of a listener the admin principal can use)" >&2
    exit 2
fi
if [[ "$WORKER_CREATES_TOPICS" != yes && "$WORKER_CREATES_TOPICS" != no ]]; then
    echo "acls.sh: WORKER_CREATES_TOPICS is yes or no, not '$WORKER_CREATES_TOPICS'" >&2
    exit 2
fi
if [[ $DRY_RUN == 0 && ! -r "$COMMAND_CONFIG" ]]; then
    echo "acls.sh: cannot read COMMAND_CONFIG=$COMMAND_CONFIG (the admin's client properties)" >&2
    exit 2
fi

INPUTS=("$TOPIC_INCIDENTS" "$TOPIC_READINGS" "$TOPIC_SAFETY" "$TOPIC_CAP" "$TOPIC_COMPLAINTS")
ALL_TOPICS=("${INPUTS[@]}" "$TOPIC_COMPLAINTS_LOCATED" "$TOPIC_IDENTITY" "$TOPIC_LOCATED" "$TOPIC_SCORES" "$TOPIC_DEADLETTER" "$TOPIC_ALERTS"
    "$TOPIC_ALERT_ACKS" "$TOPIC_ALERT_INPUT" "$TOPIC_ACK_RESULTS")

# run COMMAND...: print it (dry run, shell-quoted so it can be pasted) or run it.
run() {
    if [[ $DRY_RUN == 1 ]]; then
        local line
        printf -v line '%q ' "$@"
        printf '%s\n' "${line% }"
    else
        "$@"
    fi
}

# allow PRINCIPAL "OPERATION..." RESOURCE-OPTIONS...
#   one kafka-acls.sh call: every operation on every resource named by the options
#   (--topic NAME, repeatable; --group NAME; --resource-pattern-type prefixed).
allow() {
    local principal=$1 operations=$2 op
    shift 2
    local args=(--bootstrap-server "$BOOTSTRAP" --command-config "$COMMAND_CONFIG" "$ACTION"
        --allow-principal "User:$principal")
    for op in $operations; do
        args+=(--operation "$op")
    done
    if [[ $ACTION == --remove ]]; then
        args+=(--force) # no confirmation prompt
    fi
    run "$KAFKA_ACLS" "${args[@]}" "$@"
}

# with_topics PRINCIPAL "OPERATION..." NAME...: allow on those literal topics
with_topics() {
    local principal=$1 operations=$2 name
    shift 2
    local resources=()
    for name in "$@"; do
        resources+=(--topic "$name")
    done
    allow "$principal" "$operations" "${resources[@]}"
}

# --- agencies: Write on their input topics, nothing else ------------------------------------
read -r -a agency_entries <<<"$AGENCIES"
for entry in ${agency_entries[@]+"${agency_entries[@]}"}; do
    name=${entry%%:*}
    kinds=${entry#*:}
    if [[ -z "$name" || "$kinds" == "$entry" || -z "$kinds" ]]; then
        echo "acls.sh: AGENCIES entry '$entry' is not name:input[,input...]" >&2
        exit 2
    fi
    agency_topics=()
    IFS=, read -r -a agency_kinds <<<"$kinds"
    for kind in "${agency_kinds[@]}"; do
        case "$kind" in
            incidents) agency_topics+=("$TOPIC_INCIDENTS") ;;
            readings) agency_topics+=("$TOPIC_READINGS") ;;
            safety) agency_topics+=("$TOPIC_SAFETY") ;;
            cap) agency_topics+=("$TOPIC_CAP") ;;
            complaints) agency_topics+=("$TOPIC_COMPLAINTS") ;;
            *)
                echo "acls.sh: agency $name: '$kind' is not incidents, readings, safety, cap or complaints" >&2
                exit 2
                ;;
        esac
    done
    # Java producers are idempotent by default since Kafka 3.0; brokers of 2.8 or later accept
    # Write on a topic for that (KIP-679: no IdempotentWrite on the cluster is needed).
    with_topics "agency-$name" "Write" "${agency_topics[@]}"
done

# --- worker: the Faust app, consumer group $APP_ID ------------------------------------------
with_topics "$WORKER_USER" "Read" "${INPUTS[@]}" "$TOPIC_ALERT_ACKS"
with_topics "$WORKER_USER" "Read Write" "$TOPIC_IDENTITY" "$TOPIC_LOCATED" "$TOPIC_ALERT_INPUT"
with_topics "$WORKER_USER" "Write" \
    "$TOPIC_SCORES" "$TOPIC_DEADLETTER" "$TOPIC_ALERTS" "$TOPIC_ACK_RESULTS"
# the complaints stage: derived facility facts onto the safety input, located complaints
with_topics "$WORKER_USER" "Write" "$TOPIC_SAFETY" "$TOPIC_COMPLAINTS_LOCATED"
# Faust's internal topics are named "<app id>-...": the leader topic of its partition assignor
# ($APP_ID-__assignor-__leader, one partition, created by the worker at start) and, if tables are
# ever used, "<app id>-<table>-changelog". Note the "-": riskmon's own topics use "." and are
# not matched by this prefix.
allow "$WORKER_USER" "Create Read Write" \
    --resource-pattern-type prefixed --topic "$APP_ID-"
allow "$WORKER_USER" "Read" --group "$APP_ID"
if [[ "$WORKER_CREATES_TOPICS" == yes ]]; then
    with_topics "$WORKER_USER" "Create" "${ALL_TOPICS[@]}"
fi

# --- sink: consumer group $APP_ID-sink; writes nothing to Kafka ------------------------------
with_topics "$SINK_USER" "Read" "$TOPIC_LOCATED" "$TOPIC_SCORES" "$TOPIC_DEADLETTER" \
    "$TOPIC_ALERTS" "$TOPIC_COMPLAINTS_LOCATED"
# Its start-up step (migrations, topics, epochs) lists and checks every riskmon topic; a topic it
# cannot see it would try to create.
with_topics "$SINK_USER" "Describe" "${INPUTS[@]}" "$TOPIC_ALERT_ACKS" "$TOPIC_ALERT_INPUT" \
    "$TOPIC_ACK_RESULTS"
allow "$SINK_USER" "Read" --group "$APP_ID-sink"

# --- gateway: reads without a consumer group; publishes operators' acknowledgements ------------
with_topics "$GATEWAY_USER" "Read" "$TOPIC_SCORES" "$TOPIC_ALERTS" "$TOPIC_ACK_RESULTS"
with_topics "$GATEWAY_USER" "Write" "$TOPIC_ALERT_ACKS"

# --- riskmon status (optional) ------------------------------------------------------------------
if [[ -n "$STATUS_USER" ]]; then
    with_topics "$STATUS_USER" "Read" "${ALL_TOPICS[@]}"
    # committed offsets of the two groups (OffsetFetch), without joining them
    allow "$STATUS_USER" "Describe" --group "$APP_ID" --group "$APP_ID-sink"
fi

if [[ $DRY_RUN == 1 ]]; then
    echo "# dry run: nothing was sent to Kafka" >&2
fi
