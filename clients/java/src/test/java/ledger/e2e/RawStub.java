package ledger.e2e;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.atomic.AtomicInteger;

/** A TCP server on loopback that answers every connection with fixed bytes, then closes it; it counts connections. */
final class RawStub implements AutoCloseable {
    final AtomicInteger connections = new AtomicInteger();
    private final ServerSocket server;

    RawStub(byte[] answer) throws IOException {
        server = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
        Thread thread = new Thread(() -> {
            while (!server.isClosed()) {
                try (Socket socket = server.accept()) {
                    connections.incrementAndGet();
                    socket.getInputStream().read(new byte[4096]);
                    OutputStream out = socket.getOutputStream();
                    out.write(answer);
                    out.flush();
                } catch (IOException err) {
                    // closed: the test is over
                }
            }
        });
        thread.setDaemon(true);
        thread.start();
    }

    int port() {
        return server.getLocalPort();
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
