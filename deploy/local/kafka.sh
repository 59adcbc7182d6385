#!/usr/bin/env bash
# Apache Kafka (KRaft, one node acting as broker and controller) from its Maven Central artifacts.
# usage: kafka.sh install|start|stop|status
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

lib=$CENSUS_KAFKA_HOME/lib
conf=$CENSUS_KAFKA_DIR/server.properties
pidfile=$CENSUS_KAFKA_DIR/kafka.pid
logfile=$CENSUS_KAFKA_DIR/kafka.out

need_java() {
  command -v java >/dev/null || census_die "java not found: install a JDK 17 (apt-get install openjdk-17-jre-headless)"
}

install() {
  if [[ -f $lib/.complete-$CENSUS_KAFKA_VERSION ]]; then return 0; fi
  need_java
  command -v mvn >/dev/null || census_die "mvn not found: install Maven (apt-get install maven)"
  census_say "resolving Kafka $CENSUS_KAFKA_VERSION from Maven Central into $lib"
  mkdir -p "$lib"
  mvn -B -q -Dstyle.color=never -f "$CENSUS_ROOT/deploy/local/kafka/pom.xml" \
    -Dkafka.version="$CENSUS_KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$lib" \
    || census_die "Maven could not resolve Kafka $CENSUS_KAFKA_VERSION (see the output above)"
  touch "$lib/.complete-$CENSUS_KAFKA_VERSION"
}

running_pid() { census_pidfile_alive "$pidfile" "kafka.Kafka $conf"; }

write_config() {
  mkdir -p "$CENSUS_KAFKA_DIR/data"
  cat >"$conf" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CENSUS_KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$CENSUS_KAFKA_PORT,CONTROLLER://127.0.0.1:$CENSUS_KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$CENSUS_KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$CENSUS_KAFKA_DIR/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.segment.bytes=67108864
CONF
  cat >"$CENSUS_KAFKA_DIR/log4j2.yaml" <<'CONF'
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: WARN
      - name: state.change.logger
        level: WARN
CONF
}

java_cmd() {
  java -Xms256m "-Xmx$CENSUS_KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$CENSUS_KAFKA_DIR/log4j2.yaml" -cp "$lib/*" "$@"
}

broker_started() {
  census_port_open "$CENSUS_KAFKA_PORT" && grep -q "Kafka Server started" "$logfile" 2>/dev/null
}

start() {
  if pid=$(running_pid); then census_say "kafka already running (pid $pid) on 127.0.0.1:$CENSUS_KAFKA_PORT"; return 0; fi
  install
  need_java
  if census_port_open "$CENSUS_KAFKA_PORT"; then census_die "port $CENSUS_KAFKA_PORT is taken by another process: set CENSUS_KAFKA_PORT"; fi
  write_config
  if [[ ! -f $CENSUS_KAFKA_DIR/data/meta.properties ]]; then
    census_say "formatting Kafka storage in $CENSUS_KAFKA_DIR/data"
    local cluster_id
    cluster_id=$(java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$conf" >"$CENSUS_KAFKA_DIR/format.out" 2>&1 \
      || { cat "$CENSUS_KAFKA_DIR/format.out" >&2; census_die "formatting Kafka storage failed"; }
  fi
  : >"$logfile"
  # setsid: the broker must outlive the shell that started it, and not get its signals.
  setsid nohup java -Xms256m "-Xmx$CENSUS_KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$CENSUS_KAFKA_DIR/log4j2.yaml" -cp "$lib/*" kafka.Kafka "$conf" \
    >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  census_say "starting kafka (pid $(<"$pidfile")), log $logfile"
  if ! census_wait_for "kafka" broker_started; then
    tail -n 30 "$logfile" >&2
    stop
    exit 1
  fi
  census_say "kafka ready on 127.0.0.1:$CENSUS_KAFKA_PORT"
}

stop() {
  local pid
  if ! pid=$(running_pid); then rm -f "$pidfile"; return 0; fi
  census_say "stopping kafka (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! census_wait_gone "$pid" 45; then
    census_say "kafka did not stop within 45s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    census_wait_gone "$pid" 10 || true
  fi
  rm -f "$pidfile"
}

status() {
  if pid=$(running_pid); then echo "kafka: running (pid $pid) on 127.0.0.1:$CENSUS_KAFKA_PORT"; else echo "kafka: stopped"; return 1; fi
}

case ${1:-} in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
