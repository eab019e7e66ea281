// Produces records with Apache Kafka's own Java client and a chosen compression codec, so the
// real-broker tests (tests/kafka.rs) can check that tailwatch reads batches compressed by a
// producer it did not write: gateways and MirrorMaker compress with gzip, snappy, lz4 or zstd.
//
// Java 17 source-launch mode, no build step; the classpath is the broker's cached jars, which
// hold kafka-clients and its codec libraries (snappy-java, lz4-java, zstd-jni):
//
//   scripts/kafka-local.sh run scripts/kafka/CompressedProducer.java BOOTSTRAP CODEC < records.tsv
//
// Input, one record per line, tab-separated: topic, partition, timestamp (ms), key, value,
// headers. Key and value are hex, or "-" for null; headers are "name=hex" pairs joined by ","
// (empty for none). Records are sent in input order with linger and a large batch size, so
// each partition's records travel in compressed batches of many records.
//
// Output, one line on stdout: sent=N codec=C records_per_request=Q compression_rate=R, the
// client's own records-per-request-avg and compression-rate-avg (compressed / uncompressed
// batch bytes; 1 without compression).
// Exit 0 only when every record was acknowledged.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class CompressedProducer {
    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: CompressedProducer BOOTSTRAP CODEC < records.tsv");
            System.exit(2);
        }
        String codec = args[1];
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
        props.put(ProducerConfig.LINGER_MS_CONFIG, "50");
        props.put(ProducerConfig.BATCH_SIZE_CONFIG, "262144");
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());

        HexFormat hex = HexFormat.of();
        AtomicReference<Exception> failure = new AtomicReference<>();
        long sent = 0;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props);
             BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) {
                    continue;
                }
                String[] f = line.split("\t", -1);
                if (f.length != 6) {
                    throw new IllegalArgumentException("expected 6 tab-separated fields: " + line);
                }
                RecordHeaders headers = new RecordHeaders();
                if (!f[5].isEmpty()) {
                    for (String pair : f[5].split(",")) {
                        int eq = pair.indexOf('=');
                        headers.add(pair.substring(0, eq), hex.parseHex(pair.substring(eq + 1)));
                    }
                }
                ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(
                        f[0], Integer.parseInt(f[1]), Long.parseLong(f[2]),
                        f[3].equals("-") ? null : hex.parseHex(f[3]),
                        f[4].equals("-") ? null : hex.parseHex(f[4]),
                        headers);
                producer.send(record, (metadata, e) -> {
                    if (e != null) {
                        failure.compareAndSet(null, e);
                    }
                });
                sent++;
            }
            producer.flush();
            if (failure.get() != null) {
                throw failure.get();
            }
            System.out.printf("sent=%d codec=%s records_per_request=%.1f compression_rate=%.4f%n",
                    sent, codec, metric(producer, "records-per-request-avg"),
                    metric(producer, "compression-rate-avg"));
        }
    }

    private static double metric(KafkaProducer<byte[], byte[]> producer, String name) {
        for (java.util.Map.Entry<MetricName, ? extends Metric> e : producer.metrics().entrySet()) {
            if (e.getKey().group().equals("producer-metrics") && e.getKey().name().equals(name)) {
                return ((Number) e.getValue().metricValue()).doubleValue();
            }
        }
        return Double.NaN;
    }
}
