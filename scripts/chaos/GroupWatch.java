// Watches a consumer group's committed offsets against the end offsets of its input topics, for
// scripts/chaos.sh: whether the service has consumed its input to the end, when it is
// processing (the committed offsets move: each commit is one of tailwatch's transactions), and
// when the broker answers (a line that says "ok" after lines that say "err").
//
// Java 17 source-launch mode, no build step; the classpath is the broker's cached jars:
//
//   scripts/kafka-local.sh run scripts/chaos/GroupWatch.java BOOTSTRAP GROUP PARTITIONS \
//       INTERVAL_MS INPUT_TOPICS OUTPUT_TOPICS
//
// INPUT_TOPICS and OUTPUT_TOPICS are comma-separated; every topic has PARTITIONS partitions.
// One line on stdout per poll, until killed:
//
//   <epoch ms> ok committed=<sum> end=<sum> behind=<records> out=<sum of output end offsets>
//   <epoch ms> err <what failed>
//
// `committed` sums the group's committed offsets over the input partitions (0 where it has
// none), `end` their end offsets (high watermarks), `behind` sums max(0, end - committed) over
// the partitions: 0 means every input record has been consumed and committed.

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

public class GroupWatch {
    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println(
                    "usage: GroupWatch BOOTSTRAP GROUP PARTITIONS INTERVAL_MS INPUT_TOPICS OUTPUT_TOPICS");
            System.exit(2);
        }
        String group = args[1];
        int partitions = Integer.parseInt(args[2]);
        long interval = Long.parseLong(args[3]);
        List<TopicPartition> inputs = partitionsOf(args[4], partitions);
        List<TopicPartition> outputs = partitionsOf(args[5], partitions);

        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "tailwatch-chaos-watch");
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "50");
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "250");
        props.put(AdminClientConfig.RETRY_BACKOFF_MS_CONFIG, "50");
        props.put(AdminClientConfig.RETRY_BACKOFF_MAX_MS_CONFIG, "250");

        Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
        for (TopicPartition tp : inputs) latest.put(tp, OffsetSpec.latest());
        for (TopicPartition tp : outputs) latest.put(tp, OffsetSpec.latest());

        try (Admin admin = Admin.create(props)) {
            while (true) {
                long started = System.currentTimeMillis();
                String line;
                try {
                    Map<TopicPartition, OffsetAndMetadata> committed = admin
                            .listConsumerGroupOffsets(group)
                            .partitionsToOffsetAndMetadata()
                            .get(3, TimeUnit.SECONDS);
                    Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> ends = admin
                            .listOffsets(latest)
                            .all()
                            .get(3, TimeUnit.SECONDS);
                    long committedSum = 0, endSum = 0, behind = 0, out = 0;
                    for (TopicPartition tp : inputs) {
                        OffsetAndMetadata c = committed.get(tp);
                        long at = c == null ? 0 : c.offset();
                        long end = ends.get(tp).offset();
                        committedSum += at;
                        endSum += end;
                        behind += Math.max(0, end - at);
                    }
                    for (TopicPartition tp : outputs) out += ends.get(tp).offset();
                    line = String.format("%d ok committed=%d end=%d behind=%d out=%d",
                            started, committedSum, endSum, behind, out);
                } catch (Exception e) {
                    Throwable cause = e.getCause() != null ? e.getCause() : e;
                    line = started + " err " + cause.getClass().getSimpleName() + ": "
                            + String.valueOf(cause.getMessage()).replace('\n', ' ');
                }
                System.out.println(line);
                System.out.flush();
                long left = interval - (System.currentTimeMillis() - started);
                if (left > 0) Thread.sleep(left);
            }
        }
    }

    private static List<TopicPartition> partitionsOf(String topics, int partitions) {
        List<TopicPartition> out = new ArrayList<>();
        for (String topic : topics.split(",")) {
            if (topic.isEmpty()) continue;
            for (int p = 0; p < partitions; p++) out.add(new TopicPartition(topic, p));
        }
        return out;
    }
}
