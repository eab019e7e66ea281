// The chaos suite's input stream (scripts/chaos.sh): replays a recording into the live input
// topics at a steady rate, in the recording's order, so that Kafka shows the service what the
// offline replay sees.
//
// The records' bytes come from a staging copy of the recording (`tailwatch replay --brokers
// --topic-prefix STAGING`, produced before the chaos starts); this program copies them, in the
// order of the recording's lines, to the same role and partition under LIVE_PREFIX (keys,
// values, headers, timestamps unchanged). Why not `tailwatch replay --brokers --rate` directly: it sends
// every partition's batches independently, so after a broker outage its backlog lands with the
// topics of one partition number in any order (a registration after the telemetry it precedes),
// and the live service, which merges topics in the order records become visible, then differs
// from the offline replay for a reason that is not the one under test (RELIABILITY.md).
//
// Order: records go out asynchronously in chunks; before a record whose partition number
// already has records of another topic in the current chunk, every record sent so far is
// acknowledged first (flush). So within a partition number, a record of one topic never
// becomes visible before a record of another topic that precedes it in the recording.
// The producer (acks=all, one request in flight, retries) waits through broker outages of up
// to 10 minutes.
//
//   java -cp <kafka jars> scripts/chaos/OrderedFeed.java BOOTSTRAP RECORDING RECORDING_PREFIX \
//       LIVE_PREFIX STAGING_PREFIX RATE
//
// RECORDING is the JSON Lines recording, its topics under RECORDING_PREFIX (a topic's role is
// the rest of its name); RATE is records per second (0: as fast as possible). Prints "produced N records in C chunks" and exits 0 when
// every record was acknowledged.

import java.io.BufferedReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class OrderedFeed {
    // Recording lines start {"topic":"...","partition":N,"offset":N (src/recording.rs).
    private static final Pattern HEAD =
            Pattern.compile("^\\{\"topic\":\"([^\"]*)\",\"partition\":(\\d+),\"offset\":(\\d+)");

    record Ref(String role, int partition, int offset) {}

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println(
                    "usage: OrderedFeed BOOTSTRAP RECORDING RECORDING_PREFIX LIVE_PREFIX STAGING_PREFIX RATE");
            System.exit(2);
        }
        String bootstrap = args[0];
        String recorded = args[2];
        String live = args[3];
        String staging = args[4];
        double rate = Double.parseDouble(args[5]);

        // The recording's order.
        List<Ref> order = new ArrayList<>();
        Map<TopicPartition, Integer> counts = new HashMap<>();
        try (BufferedReader in = Files.newBufferedReader(Path.of(args[1]), StandardCharsets.UTF_8)) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isBlank()) continue;
                Matcher m = HEAD.matcher(line);
                if (!m.find() || !m.group(1).startsWith(recorded)) {
                    throw new IllegalArgumentException("not a recording line under " + recorded + ": "
                            + line.substring(0, Math.min(120, line.length())));
                }
                String role = m.group(1).substring(recorded.length());
                Ref ref = new Ref(role, Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)));
                order.add(ref);
                counts.merge(new TopicPartition(staging + role, ref.partition), 1, Integer::sum);
            }
        }

        // The staging copy, whole: record i of a partition is at offset i.
        Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> staged = new HashMap<>();
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.CLIENT_ID_CONFIG, "tailwatch-chaos-feeder-read");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        cp.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5000");
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(cp, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> tps = new ArrayList<>(counts.keySet());
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            for (TopicPartition tp : tps) staged.put(tp, new ArrayList<>());
            long total = counts.values().stream().mapToLong(Integer::longValue).sum(), read = 0;
            long deadline = System.currentTimeMillis() + 600_000;
            while (read < total) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("read " + read + " of " + total + " staged records");
                }
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                    List<ConsumerRecord<byte[], byte[]>> list = staged.get(tp);
                    if (r.offset() != list.size()) {
                        throw new IllegalStateException(tp + ": offset " + r.offset() + " at index " + list.size());
                    }
                    list.add(r);
                    read++;
                }
            }
        }

        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.CLIENT_ID_CONFIG, "tailwatch-chaos-feeder");
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        // Not idempotent, one request in flight: after a SIGKILLed broker comes back, Kafka
        // 4.1's idempotent producer (like librdkafka's) was seen to fail with
        // OUT_OF_ORDER_SEQUENCE_NUMBER until its records expired, or to write duplicates. With
        // one request in flight, retries keep the order and at worst write a record twice
        // (the chaos suite then replays what the input topics hold).
        pp.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        pp.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "1");
        pp.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        pp.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "600000");
        pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "600000");
        pp.put(ProducerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "250");
        AtomicLong failed = new AtomicLong();
        AtomicReference<Exception> firstFailure = new AtomicReference<>();
        long chunks = 1;
        try (KafkaProducer<byte[], byte[]> producer =
                new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer())) {
            // Topics (roles) with records in the current chunk, per partition number.
            Map<Integer, Set<String>> chunk = new HashMap<>();
            long started = System.nanoTime();
            long sent = 0;
            for (Ref ref : order) {
                if (rate > 0) {
                    long due = started + (long) (sent / rate * 1e9);
                    long wait = due - System.nanoTime();
                    if (wait > 0) Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
                Set<String> roles = chunk.computeIfAbsent(ref.partition, p -> new HashSet<>());
                if (!roles.isEmpty() && !roles.contains(ref.role)) {
                    producer.flush();
                    chunk.clear();
                    chunks++;
                    roles = chunk.computeIfAbsent(ref.partition, p -> new HashSet<>());
                }
                roles.add(ref.role);
                ConsumerRecord<byte[], byte[]> r =
                        staged.get(new TopicPartition(staging + ref.role, ref.partition)).get(ref.offset);
                ProducerRecord<byte[], byte[]> out = new ProducerRecord<>(live + ref.role, ref.partition,
                        r.timestamp(), r.key(), r.value(), r.headers());
                producer.send(out, (metadata, e) -> {
                    if (e != null) {
                        failed.incrementAndGet();
                        firstFailure.compareAndSet(null, e);
                    }
                });
                sent++;
            }
            producer.flush();
        }
        if (failed.get() > 0) {
            System.err.println(failed.get() + " of " + order.size() + " records were not delivered; the first: "
                    + firstFailure.get());
            System.exit(1);
        }
        System.out.println("produced " + order.size() + " records in " + chunks + " chunks");
    }
}
