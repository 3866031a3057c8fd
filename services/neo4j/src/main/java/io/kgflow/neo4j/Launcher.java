package io.kgflow.neo4j;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;

/**
 * A Neo4j 5 Community DBMS for one machine, with no Docker and no tarball: the Community artifacts from Maven
 * Central, Bolt on a loopback port, no HTTP connector, authentication on.
 *
 * <p>Why not the test harness: it creates a fresh random directory on every start and deletes it on stop,
 * while `kgflow up --graph neo4j` needs data that outlives a restart under the kgflow home. The embedded
 * DBMS builder is what the server itself runs, minus the HTTP/browser modules kgflow does not use.
 *
 * <p>The password comes from the environment (KGFLOW_NEO4J_PASSWORD), never from the command line, where
 * other users could read it. SIGTERM (or SIGINT) shuts the DBMS down cleanly, flushing the store.
 *
 * <p>Usage: {@code java -cp 'kgflow-neo4j.jar:lib/*' io.kgflow.neo4j.Launcher --home DIR --bolt-port N
 * [--pagecache-mb N] [--transaction-memory-mb N]}
 */
public final class Launcher {
    private Launcher() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opts.put(args[i], args[i + 1]);
        }
        Path home = Path.of(require(opts, "--home")).toAbsolutePath();
        int port = Integer.parseInt(require(opts, "--bolt-port"));
        long pagecache = Long.parseLong(opts.getOrDefault("--pagecache-mb", "256")) * 1024 * 1024;
        // 0: a transaction may use what the global pool allows (70 % of the heap); tests set a small cap
        long txMax = Long.parseLong(opts.getOrDefault("--transaction-memory-mb", "0")) * 1024 * 1024;
        String password = System.getenv("KGFLOW_NEO4J_PASSWORD");
        if (password == null || password.length() < 8) {
            System.err.println("set KGFLOW_NEO4J_PASSWORD (8 characters or more) in the environment");
            System.exit(2);
        }

        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(GraphDatabaseSettings.pagecache_memory, pagecache)
                .setConfig(GraphDatabaseSettings.memory_transaction_max_size, txMax)
                .build();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            dbms.shutdown();
            stopped.countDown();
        }, "kgflow-neo4j-shutdown"));

        // The built-in user's password is the environment's on every start: rotating it is a restart.
        dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME).executeTransactionally(
                "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED", Map.of("password", password));
        System.out.println("kgflow-neo4j ready bolt://127.0.0.1:" + port + " home=" + home);
        System.out.flush();
        stopped.await();
    }

    private static String require(Map<String, String> opts, String name) {
        String v = opts.get(name);
        if (v == null) {
            System.err.println("missing " + name);
            System.exit(2);
        }
        return v;
    }
}
