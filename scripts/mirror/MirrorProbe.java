// Small helper for scripts/mirror-local.sh: readiness of a running MirrorMaker 2 (dedicated mode)
// and end-to-end checks of what it mirrors. Java 17 source-launch mode, no build step; the
// classpath is MirrorMaker's cached jars (kafka-clients, Jackson):
//
//   java -cp '<cache>/libs/*' scripts/mirror/MirrorProbe.java COMMAND ARGS...
//
// Commands (every one exits 0 on success, 1 on failure or timeout, 2 on bad usage):
//
//   ready SOURCE_BOOTSTRAP TARGET_BOOTSTRAP SOURCE_ALIAS TOPICS_REGEX CONNECT_TOPIC_SUFFIX SINCE_MS TIMEOUT_S
//       Waits until MirrorMaker replicates: the Connect status topic on the target
//       (mm2-status.SUFFIX) says MirrorSourceConnector is RUNNING, written after SINCE_MS (so a
//       state left by an earlier, killed run does not count), and, when source topics matching
//       TOPICS_REGEX exist, their remote topics (SOURCE_ALIAS.topic) exist on the target, the
//       connector's task configs (mm2-configs.SUFFIX) cover every one of their partitions, and
//       those tasks are RUNNING since SINCE_MS.
//
//   create BOOTSTRAP TOPIC PARTITIONS
//       Creates TOPIC compacted (cleanup.policy=compact) with PARTITIONS partitions and
//       replication factor 1 if it is missing. Prints "created" or "exists".
//
//   check SOURCE_BOOTSTRAP TARGET_BOOTSTRAP SOURCE_TOPIC REMOTE_TOPIC KEY PARTITIONS TIMEOUT_S SAMPLES
//       Creates SOURCE_TOPIC as `create` does if missing, waits for REMOTE_TOPIC on the target,
//       then SAMPLES times: produces KEY with a unique value to SOURCE_TOPIC (acks=all) and
//       consumes REMOTE_TOPIC from its end until that value shows up. Prints each delay (ack on
//       the source to record seen on the target) and the median.
//
//   txn SOURCE_BOOTSTRAP TARGET_BOOTSTRAP SOURCE_TOPIC REMOTE_TOPIC KEY PARTITIONS TIMEOUT_S
//       A transactional producer writes one record in a transaction it aborts, then one in a
//       transaction it commits (same key, so the same partition, aborted one first). Passes when
//       the committed record shows up on the target and the aborted one did not before it
//       (MirrorMaker copies a partition in offset order, so it would have come first).

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class MirrorProbe {
    static final String CONNECTOR = "MirrorSourceConnector";
    static final ObjectMapper JSON = new ObjectMapper();

    public static void main(String[] args) throws Exception {
        if (args.length == 0) usage();
        String[] rest = java.util.Arrays.copyOfRange(args, 1, args.length);
        int code;
        switch (args[0]) {
            case "ready" -> code = ready(rest);
            case "create" -> code = create(rest);
            case "check" -> code = check(rest);
            case "txn" -> code = txn(rest);
            default -> { usage(); code = 2; }
        }
        System.exit(code);
    }

    static void usage() {
        System.err.println("usage: MirrorProbe ready|create|check|txn ARGS... (see the comment at the top of MirrorProbe.java)");
        System.exit(2);
    }

    static void need(String[] a, int n) {
        if (a.length != n) usage();
    }

    static Admin admin(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "10000");
        return Admin.create(p);
    }

    static <K, V> KafkaConsumer<K, V> consumer(String bootstrap, String isolation,
                                               org.apache.kafka.common.serialization.Deserializer<K> k,
                                               org.apache.kafka.common.serialization.Deserializer<V> v) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "50");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        return new KafkaConsumer<>(p, k, v);
    }

    static long deadline(String timeoutS) {
        return System.currentTimeMillis() + Long.parseLong(timeoutS) * 1000L;
    }

    static Set<String> existing(Admin admin) throws Exception {
        return admin.listTopics().names().get();
    }

    // ------------------------------------------------------------------------------------------
    // ready

    static int ready(String[] a) throws Exception {
        need(a, 7);
        String sourceBootstrap = a[0], targetBootstrap = a[1], alias = a[2];
        Pattern topics = Pattern.compile(a[3]);
        String statusTopic = "mm2-status." + a[4] + ".internal";
        String configTopic = "mm2-configs." + a[4] + ".internal";
        long since = Long.parseLong(a[5]);
        long deadline = deadline(a[6]);

        Map<String, JsonNode> status = new HashMap<>(); // key -> latest value written since SINCE
        Map<String, JsonNode> configs = new HashMap<>(); // key -> latest value
        String lastWhy = "";
        try (Admin source = admin(sourceBootstrap); Admin target = admin(targetBootstrap);
             KafkaConsumer<String, byte[]> c = consumer(targetBootstrap, "read_committed",
                     new StringDeserializer(), new ByteArrayDeserializer())) {
            boolean assigned = false;
            while (System.currentTimeMillis() < deadline) {
                String why;
                try {
                    if (!assigned) {
                        Set<String> t = existing(target);
                        if (!t.contains(statusTopic) || !t.contains(configTopic)) {
                            why = "MirrorMaker has not created " + statusTopic + " and " + configTopic + " on the target yet";
                            lastWhy = report(lastWhy, why);
                            Thread.sleep(500);
                            continue;
                        }
                        List<TopicPartition> tps = new ArrayList<>();
                        for (String topic : List.of(statusTopic, configTopic)) {
                            for (PartitionInfo pi : c.partitionsFor(topic, Duration.ofSeconds(10))) {
                                tps.add(new TopicPartition(pi.topic(), pi.partition()));
                            }
                        }
                        c.assign(tps);
                        c.seekToBeginning(tps);
                        assigned = true;
                    }
                    for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
                        if (r.key() == null) continue;
                        Map<String, JsonNode> into = r.topic().equals(statusTopic) ? status : configs;
                        if (r.value() == null) {
                            into.remove(r.key());
                        } else if (into == configs || r.timestamp() >= since) {
                            into.put(r.key(), JSON.readTree(r.value()));
                        }
                    }
                    why = notReadyBecause(source, target, alias, topics, status, configs);
                } catch (ExecutionException | org.apache.kafka.common.KafkaException e) {
                    why = "Kafka: " + (e.getCause() != null ? e.getCause() : e);
                }
                if (why == null) return 0;
                lastWhy = report(lastWhy, why);
            }
            System.err.println("MirrorProbe ready: timed out; last state: " + lastWhy);
            return 1;
        }
    }

    static String report(String last, String why) {
        if (!why.equals(last)) System.err.println("MirrorProbe ready: waiting: " + why);
        return why;
    }

    static String state(Map<String, JsonNode> status, String key) {
        JsonNode v = status.get(key);
        return v == null || v.get("state") == null ? null : v.get("state").asText();
    }

    static String notReadyBecause(Admin source, Admin target, String alias, Pattern topics,
                                  Map<String, JsonNode> status, Map<String, JsonNode> configs) throws Exception {
        String cs = state(status, "status-connector-" + CONNECTOR);
        if (!"RUNNING".equals(cs)) {
            return CONNECTOR + " is " + (cs == null ? "not started yet" : cs);
        }
        List<String> matching = new ArrayList<>();
        for (String t : existing(source)) {
            if (topics.matcher(t).matches()) matching.add(t);
        }
        if (matching.isEmpty()) {
            System.err.println("MirrorProbe ready: note: no topic on the source matches " + topics
                    + " yet; MirrorMaker mirrors one within refresh.topics.interval.seconds after it is created");
            return null;
        }
        Collections.sort(matching);
        Set<String> onTarget = existing(target);
        Set<String> wanted = new HashSet<>();
        for (Map.Entry<String, TopicDescription> e : source.describeTopics(matching).allTopicNames().get().entrySet()) {
            String remote = alias + "." + e.getKey();
            if (!onTarget.contains(remote)) return "remote topic " + remote + " does not exist on the target yet";
            e.getValue().partitions().forEach(p -> wanted.add(e.getKey() + "-" + p.partition()));
        }
        JsonNode commit = configs.get("commit-" + CONNECTOR);
        int tasks = commit == null || commit.get("tasks") == null ? 0 : commit.get("tasks").asInt();
        if (tasks == 0) return CONNECTOR + " has no task configuration yet";
        Set<String> covered = new HashSet<>();
        for (int i = 0; i < tasks; i++) {
            JsonNode tc = configs.get("task-" + CONNECTOR + "-" + i);
            JsonNode parts = tc == null ? null : tc.path("properties").get("task.assigned.partitions");
            if (parts != null) {
                for (String p : parts.asText().split(",")) {
                    if (!p.isBlank()) covered.add(p.trim());
                }
            }
            String ts = state(status, "status-task-" + CONNECTOR + "-" + i);
            if (!"RUNNING".equals(ts)) return "task " + CONNECTOR + "-" + i + " is " + (ts == null ? "not started yet" : ts);
        }
        Set<String> missing = new HashSet<>(wanted);
        missing.removeAll(covered);
        if (!missing.isEmpty()) return "the tasks do not replicate " + new java.util.TreeSet<>(missing) + " yet";
        System.err.println("MirrorProbe ready: " + CONNECTOR + " RUNNING with " + tasks + " task(s) replicating "
                + wanted.size() + " partition(s) of " + matching);
        return null;
    }

    // ------------------------------------------------------------------------------------------
    // create / check / txn

    static int create(String[] a) throws Exception {
        need(a, 3);
        try (Admin admin = admin(a[0])) {
            System.out.println(ensureTopic(admin, a[1], Integer.parseInt(a[2])) ? "created" : "exists");
        }
        return 0;
    }

    /** Creates the topic compacted if it is missing; true when this call created it. */
    static boolean ensureTopic(Admin admin, String topic, int partitions) throws Exception {
        if (existing(admin).contains(topic)) return false;
        NewTopic nt = new NewTopic(topic, partitions, (short) 1).configs(Map.of("cleanup.policy", "compact"));
        try {
            admin.createTopics(List.of(nt)).all().get();
            return true;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof TopicExistsException) return false;
            throw e;
        }
    }

    static KafkaProducer<String, String> producer(String bootstrap, String transactionalId) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "0");
        if (transactionalId != null) p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        return new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
    }

    /** Waits for the remote topic, assigns all its partitions and positions them at the end. */
    static KafkaConsumer<String, String> tailRemote(String targetBootstrap, String remoteTopic, String isolation,
                                                    long deadline) throws Exception {
        try (Admin target = admin(targetBootstrap)) {
            long t0 = System.currentTimeMillis();
            while (!existing(target).contains(remoteTopic)) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("remote topic " + remoteTopic + " did not appear on the target (is MirrorMaker running?)");
                }
                Thread.sleep(200);
            }
            long waited = System.currentTimeMillis() - t0;
            if (waited > 300) System.err.println("MirrorProbe: waited " + waited + " ms for " + remoteTopic + " to appear on the target");
            TopicDescription d = target.describeTopics(List.of(remoteTopic)).allTopicNames().get().get(remoteTopic);
            String policy = target.describeConfigs(List.of(new org.apache.kafka.common.config.ConfigResource(
                    org.apache.kafka.common.config.ConfigResource.Type.TOPIC, remoteTopic))).all().get()
                    .values().iterator().next().get("cleanup.policy").value();
            System.err.println("MirrorProbe: target " + remoteTopic + ": " + d.partitions().size()
                    + " partitions, cleanup.policy=" + policy);
        }
        KafkaConsumer<String, String> c = consumer(targetBootstrap, isolation, new StringDeserializer(), new StringDeserializer());
        List<TopicPartition> tps = new ArrayList<>();
        for (PartitionInfo pi : c.partitionsFor(remoteTopic, Duration.ofSeconds(10))) {
            tps.add(new TopicPartition(pi.topic(), pi.partition()));
        }
        c.assign(tps);
        c.seekToEnd(tps);
        for (TopicPartition tp : tps) c.position(tp); // resolve the end offsets now, before producing
        return c;
    }

    static int check(String[] a) throws Exception {
        need(a, 8);
        String sb = a[0], tb = a[1], topic = a[2], remote = a[3], key = a[4];
        int partitions = Integer.parseInt(a[5]);
        long timeoutMs = Long.parseLong(a[6]) * 1000L;
        int samples = Integer.parseInt(a[7]);
        try (Admin source = admin(sb)) {
            if (ensureTopic(source, topic, partitions)) {
                System.err.println("MirrorProbe: created " + topic + " on the source (compacted, " + partitions + " partitions)");
            }
        }
        List<Long> delays = new ArrayList<>();
        try (KafkaConsumer<String, String> c = tailRemote(tb, remote, "read_committed", System.currentTimeMillis() + timeoutMs);
             KafkaProducer<String, String> p = producer(sb, null)) {
            for (int i = 0; i < samples; i++) {
                String value = "mirror-check " + UUID.randomUUID() + " " + i;
                RecordMetadata md = p.send(new ProducerRecord<>(topic, key, value)).get();
                long acked = System.nanoTime();
                long deadline = System.currentTimeMillis() + timeoutMs;
                ConsumerRecord<String, String> seen = null;
                while (seen == null && System.currentTimeMillis() < deadline) {
                    for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
                        if (value.equals(r.value())) seen = r;
                    }
                }
                if (seen == null) {
                    System.out.println("FAIL: record " + i + " (source " + topic + "-" + md.partition() + "@" + md.offset()
                            + ") did not show up on " + remote + " within " + a[6] + " s");
                    return 1;
                }
                long ms = (System.nanoTime() - acked) / 1_000_000L;
                delays.add(ms);
                System.out.println("sample " + (i + 1) + ": " + topic + "-" + md.partition() + "@" + md.offset() + " -> "
                        + remote + "-" + seen.partition() + "@" + seen.offset() + " key=" + seen.key()
                        + " delay_ms=" + ms);
                if (seen.partition() != md.partition() || !key.equals(seen.key())) {
                    System.out.println("FAIL: key or partition changed on the way");
                    return 1;
                }
            }
        }
        List<Long> sorted = new ArrayList<>(delays);
        Collections.sort(sorted);
        long median = sorted.size() % 2 == 1 ? sorted.get(sorted.size() / 2)
                : (sorted.get(sorted.size() / 2 - 1) + sorted.get(sorted.size() / 2)) / 2;
        System.out.println("OK: " + samples + " record(s) mirrored " + topic + " -> " + remote + "; delay ms min="
                + sorted.get(0) + " median=" + median + " max=" + sorted.get(sorted.size() - 1));
        return 0;
    }

    static int txn(String[] a) throws Exception {
        need(a, 7);
        String sb = a[0], tb = a[1], topic = a[2], remote = a[3], key = a[4];
        int partitions = Integer.parseInt(a[5]);
        long timeoutMs = Long.parseLong(a[6]) * 1000L;
        try (Admin source = admin(sb)) {
            ensureTopic(source, topic, partitions);
        }
        String run = UUID.randomUUID().toString();
        String abortedValue = "mirror-txn aborted " + run;
        String committedValue = "mirror-txn committed " + run;
        // read_uncommitted on the target: whatever MirrorMaker wrote there is seen.
        try (KafkaConsumer<String, String> c = tailRemote(tb, remote, "read_uncommitted", System.currentTimeMillis() + timeoutMs);
             KafkaProducer<String, String> p = producer(sb, "tailwatch-mirror-probe-" + run)) {
            p.initTransactions();
            p.beginTransaction();
            RecordMetadata am = p.send(new ProducerRecord<>(topic, key, abortedValue)).get();
            p.abortTransaction();
            p.beginTransaction();
            RecordMetadata cm = p.send(new ProducerRecord<>(topic, key, committedValue)).get();
            p.commitTransaction();
            long committed = System.nanoTime();
            System.out.println("source: aborted at " + topic + "-" + am.partition() + "@" + am.offset()
                    + ", committed at " + topic + "-" + cm.partition() + "@" + cm.offset());
            boolean sawAborted = false, sawCommitted = false;
            long deadline = System.currentTimeMillis() + timeoutMs;
            while (!sawCommitted && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
                    if (abortedValue.equals(r.value())) {
                        sawAborted = true;
                        System.out.println("target: ABORTED record mirrored to " + remote + "-" + r.partition() + "@" + r.offset());
                    }
                    if (committedValue.equals(r.value())) {
                        sawCommitted = true;
                        System.out.println("target: committed record mirrored to " + remote + "-" + r.partition() + "@" + r.offset()
                                + " after " + (System.nanoTime() - committed) / 1_000_000L + " ms");
                    }
                }
            }
            if (!sawCommitted) {
                System.out.println("FAIL: the committed record did not show up on " + remote + " within " + a[6] + " s");
                return 1;
            }
            if (sawAborted) {
                System.out.println("FAIL: the aborted record was mirrored (the source consumer does not read committed only)");
                return 1;
            }
            System.out.println("OK: committed record mirrored, aborted record not mirrored");
            return 0;
        }
    }
}
