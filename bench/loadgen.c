/*
 * The load generator in C: one thread, one epoll loop, the same jobs as bench/loadgen.ts (echo,
 * connection rate, fan-out, lockstep fan-out, idle memory, trickle, fairness) with the same
 * results, so the runner can use either. Issue 12 measured with a C epoll generator on one core
 * and the server on the other: the Node generator reaches a full core before the servers do, and
 * then the ratios measure the generator.
 *
 * Built by the runner on demand (`gcc -O2 -o bench/results/bin/loadgen bench/loadgen.c`), or by
 * hand the same way. Protocol, one line each way per message:
 *   stdin:  `id=7 kind=echo port=41234 connections=100 size=64 mode=pipelined depth=16 ...`
 *           (the fields of a bench/lib/protocol.ts Job as key=value pairs)
 *   stdout: `{"id":7,"phase":"measureStart"}`, `{"id":7,"phase":"measureEnd"}`, then
 *           `{"id":7,"result":{...}}` (the Job's result, as the TS interfaces spell it) or
 *           `{"id":7,"error":"..."}`.
 * It exits when stdin closes (the runner is gone).
 *
 * Nothing is allocated per message: every payload is one preallocated buffer (echo bytes are all
 * 'x', so bytes still to write are a count, not a queue), latencies go into a fixed histogram
 * (the same log-linear buckets as bench/lib/histogram.ts), and each read is timed once.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_BUFFER (256 * 1024)
#define MAX_EVENTS 1024
/** Bytes per write() of a fan-out or fairness sender (whole lines; the kernel takes what fits). */
#define SEND_CHUNK (64 * 1024)
/** A job that makes no progress for this long fails instead of hanging the runner. */
#define STALL_MS 60000.0

static int epfd;
static unsigned char rbuf[READ_BUFFER];
static char joberr[256];

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- the job, parsed from key=value pairs ---- */

typedef struct {
  long id;
  char kind[32];
  char mode[32];
  long partialLine;
  long port, connections, size, depth, warmupMs, durationMs, concurrency, receivers, messages,
      maxMessages, measureMs, warmupMessages, batch, intervalMs, probeEveryMs, senders, chunk;
} job_t;

static int parse_job(char *line, job_t *job) {
  memset(job, 0, sizeof *job);
  for (char *save = NULL, *tok = strtok_r(line, " \t\r\n", &save); tok != NULL;
       tok = strtok_r(NULL, " \t\r\n", &save)) {
    char *eq = strchr(tok, '=');
    if (eq == NULL) continue;
    *eq = '\0';
    const char *key = tok, *value = eq + 1;
    if (strcmp(key, "kind") == 0) snprintf(job->kind, sizeof job->kind, "%s", value);
    else if (strcmp(key, "mode") == 0) snprintf(job->mode, sizeof job->mode, "%s", value);
#define FIELD(name) else if (strcmp(key, #name) == 0) job->name = strtol(value, NULL, 10);
    FIELD(id) FIELD(port) FIELD(connections) FIELD(size) FIELD(depth) FIELD(warmupMs)
    FIELD(durationMs) FIELD(concurrency) FIELD(receivers) FIELD(messages) FIELD(maxMessages)
    FIELD(measureMs) FIELD(warmupMessages) FIELD(batch) FIELD(intervalMs) FIELD(probeEveryMs)
    FIELD(senders) FIELD(chunk)
    else if (strcmp(key, "partialLine") == 0) job->partialLine = strcmp(value, "true") == 0;
#undef FIELD
  }
  return job->kind[0] != '\0';
}

/* ---- output ---- */

static void emit(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fflush(stdout);
}

static void phase(long id, const char *name) { emit("{\"id\":%ld,\"phase\":\"%s\"}\n", id, name); }

/** A number for JSON: NaN and infinities (an empty histogram's quantile) become null. */
static const char *num(char *out, double value) {
  if (!isfinite(value)) return strcpy(out, "null");
  snprintf(out, 32, "%.17g", value);
  return out;
}

/* ---- CPU and latency ---- */

typedef struct {
  struct rusage ru;
  double start;
} meter_t;

typedef struct {
  double seconds, userMs, systemMs, fraction;
} cpu_t;

static void meter_start(meter_t *m) {
  getrusage(RUSAGE_SELF, &m->ru);
  m->start = now_ms();
}

static double tv_ms(struct timeval tv) { return tv.tv_sec * 1e3 + tv.tv_usec / 1e3; }

static cpu_t meter_stop(const meter_t *m) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  cpu_t c;
  c.seconds = (now_ms() - m->start) / 1e3;
  c.userMs = tv_ms(ru.ru_utime) - tv_ms(m->ru.ru_utime);
  c.systemMs = tv_ms(ru.ru_stime) - tv_ms(m->ru.ru_stime);
  c.fraction = (c.userMs + c.systemMs) / 1e3 / c.seconds;
  return c;
}

static const char *cpu_json(char *out, size_t n, cpu_t c) {
  char a[32], b[32], d[32];
  snprintf(out, n, "{\"userMs\":%s,\"systemMs\":%s,\"fraction\":%s}", num(a, c.userMs),
           num(b, c.systemMs), num(d, c.fraction));
  return out;
}

#define SUB_BUCKETS 32
#define OCTAVES 32
typedef struct {
  double counts[OCTAVES * SUB_BUCKETS];
  double count;
} histogram_t;

static void hist_reset(histogram_t *h) { memset(h, 0, sizeof *h); }

static void hist_record(histogram_t *h, double micros, double n) {
  double v = micros < 1 ? 1 : micros;
  int octave = (int)floor(log2(v));
  if (octave > OCTAVES - 1) octave = OCTAVES - 1;
  int sub = (int)floor((v / ldexp(1, octave) - 1) * SUB_BUCKETS);
  if (sub > SUB_BUCKETS - 1) sub = SUB_BUCKETS - 1;
  h->counts[octave * SUB_BUCKETS + sub] += n;
  h->count += n;
}

static double hist_quantile(const histogram_t *h, double q) {
  if (h->count == 0) return NAN;
  double rank = ceil(q * h->count), seen = 0;
  for (int i = 0; i < OCTAVES * SUB_BUCKETS; i++) {
    seen += h->counts[i];
    if (seen >= rank)
      return ldexp(1, i / SUB_BUCKETS) * (1 + (double)(i % SUB_BUCKETS + 1) / SUB_BUCKETS);
  }
  return NAN;
}

/* ---- connections ---- */

/** One client connection; `data.ptr` of its epoll registration. */
typedef struct conn {
  int fd;
  int index;
  /** Whether EPOLLOUT is armed (bytes are waiting for room in the socket buffer). */
  int want_out;
  int greeted;
  int finished;
  /** Bytes still to write (echo, trickle) and how far into the payload's period (fan-out). */
  uint64_t pending;
  uint64_t offset;
  /** Echo: bytes towards the oldest incomplete message, and the ring of batches in flight. */
  uint64_t partial;
  double *sent_at;
  uint32_t *sent_count;
  int head, size;
  /** Echo: messages echoed while the job waited for every connection, to be sent again after. */
  uint32_t owed;
  /** Bytes received after the greeting (fan-out, trickle), -1 before it. */
  double received;
  double done_at;
  double started_at;
  int at_line_start;
} conn_t;

static int set_nonblocking(int fd) { return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static struct sockaddr_in target_addr(long port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

static void no_delay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/**
 * Opens a connection and waits for the handshake (a blocking connect: one at a time never
 * overflows the server's accept queue, and on loopback it costs a few tens of µs), then makes it
 * non-blocking and registers it for reading.
 */
static int open_blocking(long port, conn_t *c) {
  struct sockaddr_in a = target_addr(port);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  no_delay(fd);
  set_nonblocking(fd);
  c->fd = fd;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

/** Starts a non-blocking connect; the connection's first EPOLLIN (or EPOLLERR) tells the rest. */
static int open_async(long port, conn_t *c) {
  struct sockaddr_in a = target_addr(port);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  no_delay(fd);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  c->fd = fd;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

static void arm_out(conn_t *c, int on) {
  if (c->want_out == on) return;
  c->want_out = on;
  struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void close_conn(conn_t *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}

/**
 * Writes `c->pending` bytes of a periodic payload: `buf` holds whole periods of `period` bytes,
 * with one spare period at its end, so any offset into the period can start a full-length write.
 * Returns -1 on a broken connection.
 */
static int flush_periodic(conn_t *c, const unsigned char *buf, size_t len, size_t period) {
  while (c->pending > 0) {
    size_t at = period == 0 ? 0 : c->offset % period;
    size_t n = c->pending < len ? c->pending : len;
    ssize_t w = write(c->fd, buf + at, n);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        arm_out(c, 1);
        return 0;
      }
      if (errno == EINTR) continue;
      return -1;
    }
    c->pending -= (uint64_t)w;
    c->offset += (uint64_t)w;
  }
  arm_out(c, 0);
  return 0;
}

/** A loop turn: waits up to `timeout_ms` and calls `on_event` for each ready connection. */
static int turn(double timeout_ms, void (*on_event)(conn_t *, uint32_t, void *), void *ctx) {
  struct epoll_event events[MAX_EVENTS];
  int timeout = timeout_ms <= 0 ? 0 : (int)ceil(timeout_ms);
  int n = epoll_wait(epfd, events, MAX_EVENTS, timeout);
  for (int i = 0; i < n; i++) {
    conn_t *c = events[i].data.ptr;
    if (c->fd < 0) continue;
    on_event(c, events[i].events, ctx);
  }
  return n < 0 ? 0 : n;
}

static conn_t *new_conns(long n) {
  conn_t *cs = calloc((size_t)(n > 0 ? n : 1), sizeof(conn_t));
  for (long i = 0; i < n; i++) {
    cs[i].fd = -1;
    cs[i].index = (int)i;
    cs[i].received = -1;
    cs[i].at_line_start = 1;
  }
  return cs;
}

static void close_all(conn_t *cs, long n) {
  for (long i = 0; i < n; i++) close_conn(&cs[i]);
}

/** Reads once; returns bytes read, 0 on EOF, -1 on error, -2 when nothing is there. */
static ssize_t read_once(conn_t *c) {
  ssize_t r = read(c->fd, rbuf, READ_BUFFER);
  if (r < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -2 : -1;
  return r;
}

/**
 * The start of a writing client's event: on EPOLLOUT it writes more of its periodic `payload`
 * (if it has one), then it reads. Returns the bytes read into rbuf, or 0 when the event is over:
 * nothing to read, or a broken connection, which is closed and counted in `*errors`.
 */
static size_t flush_then_read(conn_t *c, uint32_t events, const unsigned char *payload,
                              size_t len, size_t period, double *errors) {
  if ((events & EPOLLOUT) && payload != NULL && flush_periodic(c, payload, len, period) < 0) {
    *errors += 1;
    close_conn(c);
    return 0;
  }
  if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return 0;
  ssize_t r = read_once(c);
  if (r == -2) return 0;
  if (r <= 0) {
    *errors += 1;
    close_conn(c);
    return 0;
  }
  return (size_t)r;
}

/* ---- echo ---- */

typedef struct {
  const job_t *job;
  long depth;
  unsigned char *payload;
  size_t payload_len;
  histogram_t hist;
  int measuring, running;
  double messages, errors;
  /** Connections that have had a message echoed: the server has accepted them and serves them. */
  long ready;
} echo_t;

static void echo_send(echo_t *e, conn_t *c, uint32_t count, double now) {
  int slot = (c->head + c->size) % (int)e->depth;
  c->sent_at[slot] = now;
  c->sent_count[slot] = count;
  c->size += 1;
  c->pending += (uint64_t)count * (uint64_t)e->job->size;
  if (!c->want_out && flush_periodic(c, e->payload, e->payload_len, 0) < 0) {
    e->errors += 1;
    close_conn(c);
  }
}

static void echo_event(conn_t *c, uint32_t events, void *ctx) {
  echo_t *e = ctx;
  size_t r = flush_then_read(c, events, e->payload, e->payload_len, 0, &e->errors);
  if (r == 0) return;
  uint64_t size = (uint64_t)e->job->size;
  uint64_t available = c->partial + (uint64_t)r;
  if (available < size) {
    c->partial = available;
    return;
  }
  double now = now_ms();
  uint32_t completed = 0;
  while (available >= size && c->size > 0) {
    uint32_t in_batch = c->sent_count[c->head];
    uint64_t whole = available / size;
    uint32_t done = whole < in_batch ? (uint32_t)whole : in_batch;
    if (e->measuring) hist_record(&e->hist, (now - c->sent_at[c->head]) * 1000, done);
    available -= done * size;
    completed += done;
    if (done == in_batch) {
      c->head = (c->head + 1) % (int)e->depth;
      c->size -= 1;
    } else {
      c->sent_count[c->head] = in_batch - done;
    }
  }
  c->partial = available;
  if (completed > 0 && !c->greeted) {
    c->greeted = 1;
    e->ready += 1;
  }
  if (e->measuring) e->messages += completed;
  if (completed == 0) return;
  if (e->running) echo_send(e, c, completed, now);
  else c->owed += completed;
}

static void run_until(double deadline, void (*on_event)(conn_t *, uint32_t, void *), void *ctx) {
  for (double now = now_ms(); now < deadline; now = now_ms()) turn(deadline - now, on_event, ctx);
}

static int echo_job(const job_t *job) {
  echo_t e;
  memset(&e, 0, sizeof e);
  e.job = job;
  e.depth = strcmp(job->mode, "pipelined") == 0 ? job->depth : 1;
  if (e.depth < 1) e.depth = 1;
  e.payload_len = (size_t)(e.depth * job->size);
  e.payload = malloc(e.payload_len);
  memset(e.payload, 'x', e.payload_len);
  long n = job->connections;
  conn_t *cs = new_conns(n);
  double *sent_at = calloc((size_t)(n * e.depth), sizeof(double));
  uint32_t *sent_count = calloc((size_t)(n * e.depth), sizeof(uint32_t));
  for (long i = 0; i < n; i++) {
    cs[i].sent_at = sent_at + i * e.depth;
    cs[i].sent_count = sent_count + i * e.depth;
    if (open_blocking(job->port, &cs[i]) != 0) {
      snprintf(joberr, sizeof joberr, "connection %ld failed: %s", i, strerror(errno));
      close_all(cs, n);
      return -1;
    }
  }
  double start = now_ms();
  for (long i = 0; i < n; i++) echo_send(&e, &cs[i], (uint32_t)e.depth, start);
  // The warm-up starts once every connection has had an echo: a connect returns at the handshake,
  // before the server has accepted, and a server slow to accept a burst would otherwise spend the
  // measured window accepting (or, with its accept queue full, waiting for retransmits).
  // Until then a connection that has had its echo waits: with it pumping, a server that reads
  // unfairly (raw `net` reads a busy socket up to 32 times per poll) could keep the rest waiting
  // past the stall limit, and the gate is about accepting, not fairness.
  double give_up = start + STALL_MS;
  while (e.ready < n && now_ms() < give_up) turn(100, echo_event, &e);
  if (e.ready < n) {
    snprintf(joberr, sizeof joberr, "only %ld of %ld connections echoed", e.ready, n);
    close_all(cs, n);
    return -1;
  }
  e.running = 1;
  double resumed = now_ms();
  for (long i = 0; i < n; i++) {
    if (cs[i].owed > 0) echo_send(&e, &cs[i], cs[i].owed, resumed);
    cs[i].owed = 0;
  }
  run_until(now_ms() + job->warmupMs, echo_event, &e);
  hist_reset(&e.hist);
  e.messages = 0;
  e.measuring = 1;
  phase(job->id, "measureStart");
  meter_t m;
  meter_start(&m);
  run_until(m.start + job->durationMs, echo_event, &e);
  e.measuring = 0;
  e.running = 0;
  cpu_t cpu = meter_stop(&m);
  phase(job->id, "measureEnd");
  close_all(cs, n);
  char a[32], b[32], c1[32], d[32], cj[160];
  emit("{\"id\":%ld,\"result\":{\"kind\":\"echo\",\"messages\":%.0f,\"bytes\":%.0f,\"seconds\":%s,"
       "\"p50Us\":%s,\"p99Us\":%s,\"cpu\":%s,\"errors\":%.0f}}\n",
       job->id, e.messages, e.messages * (double)job->size, num(a, cpu.seconds),
       num(b, hist_quantile(&e.hist, 0.5)), num(c1, hist_quantile(&e.hist, 0.99)),
       cpu_json(cj, sizeof cj, cpu), e.errors);
  (void)d;
  free(sent_at);
  free(sent_count);
  free(cs);
  free(e.payload);
  return 0;
}

/* ---- connection rate ---- */

typedef struct {
  const job_t *job;
  conn_t *slots;
  histogram_t hist;
  int measuring, running;
  long in_flight;
  double completed, errors;
} rate_t;

static void rate_start(rate_t *r, conn_t *c) {
  c->greeted = 0;
  c->finished = 0;
  c->started_at = now_ms();
  if (open_async(r->job->port, c) != 0) {
    if (r->measuring) r->errors += 1;
    return;
  }
  r->in_flight += 1;
}

static void rate_done(rate_t *r, conn_t *c, int failed) {
  close_conn(c);
  r->in_flight -= 1;
  if (r->measuring) {
    if (c->greeted && !failed) r->completed += 1;
    else r->errors += 1;
  }
  if (r->running) rate_start(r, c);
}

static void rate_event(conn_t *c, uint32_t events, void *ctx) {
  rate_t *r = ctx;
  for (;;) {
    ssize_t n = read_once(c);
    if (n == -2) {
      if (events & (EPOLLERR)) rate_done(r, c, 1);
      return;
    }
    if (n < 0) {
      rate_done(r, c, 1);
      return;
    }
    if (n == 0) {
      // The server closed after our FIN: one connect, greeting, close cycle complete.
      rate_done(r, c, 0);
      return;
    }
    if (!c->greeted && memchr(rbuf, '\n', (size_t)n) != NULL) {
      c->greeted = 1;
      if (r->measuring) hist_record(&r->hist, (now_ms() - c->started_at) * 1000, 1);
      shutdown(c->fd, SHUT_WR);
    }
  }
}

static int rate_job(const job_t *job) {
  rate_t r;
  memset(&r, 0, sizeof r);
  r.job = job;
  r.running = 1;
  r.slots = new_conns(job->concurrency);
  for (long i = 0; i < job->concurrency; i++) rate_start(&r, &r.slots[i]);
  run_until(now_ms() + job->warmupMs, rate_event, &r);
  hist_reset(&r.hist);
  r.measuring = 1;
  phase(job->id, "measureStart");
  meter_t m;
  meter_start(&m);
  run_until(m.start + job->durationMs, rate_event, &r);
  r.measuring = 0;
  r.running = 0;
  cpu_t cpu = meter_stop(&m);
  phase(job->id, "measureEnd");
  double give_up = now_ms() + STALL_MS;
  while (r.in_flight > 0 && now_ms() < give_up) turn(100, rate_event, &r);
  close_all(r.slots, job->concurrency);
  char a[32], b[32], c1[32], cj[160];
  emit("{\"id\":%ld,\"result\":{\"kind\":\"connectionRate\",\"connections\":%.0f,\"seconds\":%s,"
       "\"p50Us\":%s,\"p99Us\":%s,\"cpu\":%s,\"errors\":%.0f}}\n",
       job->id, r.completed, num(a, cpu.seconds), num(b, hist_quantile(&r.hist, 0.5)),
       num(c1, hist_quantile(&r.hist, 0.99)), cpu_json(cj, sizeof cj, cpu), r.errors);
  free(r.slots);
  return 0;
}

/* ---- greeted clients (fan-out, trickle, fairness) ---- */

typedef void (*on_bytes_fn)(conn_t *c, const unsigned char *data, size_t n, void *ctx);

typedef struct {
  on_bytes_fn on_bytes;
  void *ctx;
  long greeted;
  double errors;
  /** For senders: the periodic payload written while `pending` > 0. */
  const unsigned char **payloads;
  size_t payload_len;
  size_t period;
  /** Fairness senders write without end: `pending` is topped up. */
  int endless;
  /** Every client writes payloads[0] (trickle, fan-out), not payloads[its index] (fairness). */
  int shared;
} greeted_t;

/** Reads a greeted client: bytes before its greeting line are dropped, the rest go to on_bytes. */
static void greeted_event(conn_t *c, uint32_t events, void *ctx) {
  greeted_t *g = ctx;
  const unsigned char *payload = NULL;
  if (g->payloads != NULL) {
    if ((events & EPOLLOUT) && g->endless) c->pending = UINT64_MAX / 2;
    payload = g->payloads[g->shared ? 0 : c->index];
  }
  size_t n = flush_then_read(c, events, payload, g->payload_len, g->period, &g->errors);
  if (n == 0) return;
  const unsigned char *data = rbuf;
  if (!c->greeted) {
    const unsigned char *nl = memchr(data, '\n', n);
    if (nl == NULL) return;
    c->greeted = 1;
    c->received = 0;
    g->greeted += 1;
    n -= (size_t)(nl + 1 - data);
    data = nl + 1;
  }
  if (n > 0 && g->on_bytes != NULL) g->on_bytes(c, data, n, g->ctx);
}

/** Opens `n` clients and waits until each has its greeting line. */
static int open_greeted(long port, conn_t *cs, long n, greeted_t *g) {
  for (long i = 0; i < n; i++) {
    if (open_blocking(port, &cs[i]) != 0) {
      snprintf(joberr, sizeof joberr, "connection %ld failed: %s", i, strerror(errno));
      return -1;
    }
    // Drain greetings as we go, so thousands of them do not wait in the kernel.
    if (i % 64 == 63) turn(0, greeted_event, g);
  }
  double give_up = now_ms() + STALL_MS;
  while (g->greeted < n) {
    if (now_ms() > give_up) {
      snprintf(joberr, sizeof joberr, "only %ld of %ld clients greeted", g->greeted, n);
      return -1;
    }
    turn(100, greeted_event, g);
  }
  return 0;
}

/* ---- fan-out ---- */

typedef struct {
  double target;
  long pending;
  const conn_t *sender;
  /** Bytes the server sent the sender after its greeting: there must be none. */
  double sender_bytes;
} fan_t;

static void fan_bytes(conn_t *c, const unsigned char *data, size_t n, void *ctx) {
  (void)data;
  fan_t *f = ctx;
  if (c == f->sender) {
    f->sender_bytes += (double)n;
    return;
  }
  double before = c->received;
  c->received = before + (double)n;
  if (before < f->target && c->received >= f->target) {
    c->done_at = now_ms();
    f->pending -= 1;
  }
}

/**
 * Opens a fan-out's `n` receivers (cs[0] to cs[n - 1], counted by fan_bytes into `*f`) and then
 * its sender (cs[n]), each greeted, and sets `*g` up to serve them all, the sender writing `len`
 * bytes at a time of whole `size`-byte lines once given its payload. On failure all are closed.
 */
static int open_fan(long port, conn_t *cs, long n, fan_t *f, greeted_t *g, size_t len,
                    size_t size) {
  *f = (fan_t){0, 0, &cs[n], 0};
  *g = (greeted_t){fan_bytes, f, 0, 0, NULL, len, size, 0, 1};
  int rc = open_greeted(port, cs, n, g);
  greeted_t gs = {NULL, NULL, 0, 0, NULL, len, size, 0, 1};
  if (rc == 0) rc = open_greeted(port, &cs[n], 1, &gs);
  if (rc != 0) close_all(cs, n + 1);
  return rc;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int fanout_job(const job_t *job) {
  long n = job->receivers;
  size_t size = (size_t)job->size;
  // Whole lines, plus one spare, so a write can start anywhere in a line.
  size_t lines = SEND_CHUNK / size;
  size_t len = lines * size;
  unsigned char *buf = malloc(len + size);
  for (size_t i = 0; i < lines + 1; i++) {
    memset(buf + i * size, 'x', size - 1);
    buf[i * size + size - 1] = '\n';
  }
  const unsigned char *payloads[1] = {buf};
  conn_t *cs = new_conns(n + 1);
  conn_t *sender = &cs[n];
  fan_t f;
  greeted_t g;
  int rc = open_fan(job->port, cs, n, &f, &g, len, size);
  if (rc != 0) {
    free(cs);
    free(buf);
    return -1;
  }
  // One loop serves both: the receivers' reads, the sender's writes (and anything echoed to it).
  g.payloads = payloads;
  double start = 0;

  // Sends `messages` lines and waits until every receiver has them; returns the start time.
#define ROUND(messages_)                                                                  \
  do {                                                                                    \
    f.target += (double)(messages_) * (double)size;                                       \
    f.pending = n;                                                                        \
    start = now_ms();                                                                     \
    sender->pending += (uint64_t)(messages_) * size;                                      \
    if (flush_periodic(sender, buf, len, size) < 0) {                                     \
      snprintf(joberr, sizeof joberr, "the sender's connection broke");                   \
      rc = -1;                                                                            \
      break;                                                                              \
    }                                                                                     \
    double last = now_ms(), seen = (double)f.pending + (double)sender->pending;           \
    while (f.pending > 0 || sender->pending > 0) {                                        \
      turn(100, greeted_event, &g);                                                       \
      if ((double)f.pending + (double)sender->pending != seen) {                          \
        seen = (double)f.pending + (double)sender->pending;                               \
        last = now_ms();                                                                  \
      } else if (now_ms() - last > STALL_MS) {                                            \
        snprintf(joberr, sizeof joberr, "%ld receivers stalled", f.pending);              \
        rc = -1;                                                                          \
        break;                                                                            \
      }                                                                                   \
    }                                                                                     \
  } while (0)

  long warmup = job->warmupMessages < job->maxMessages ? job->warmupMessages : job->maxMessages;
  if (warmup < 1) warmup = 1;
  double warmup_total = 0, warmup_ms = 0;
  for (;;) {
    ROUND(warmup);
    if (rc != 0) break;
    warmup_ms = now_ms() - start;
    warmup_total += (double)warmup;
    if (warmup_ms >= job->measureMs / 4.0 || warmup >= job->maxMessages) break;
    warmup = warmup * 4 < job->maxMessages ? warmup * 4 : job->maxMessages;
  }
  if (rc != 0) {
    close_all(cs, n + 1);
    free(cs);
    free(buf);
    return -1;
  }
  double sized = ceil((double)warmup / warmup_ms * (double)job->measureMs);
  double messages = sized > (double)job->messages ? sized : (double)job->messages;
  if (messages > (double)job->maxMessages) messages = (double)job->maxMessages;
  phase(job->id, "measureStart");
  meter_t m;
  meter_start(&m);
  ROUND(messages);
  cpu_t cpu = meter_stop(&m);
  phase(job->id, "measureEnd");
#undef ROUND
  if (rc != 0) {
    close_all(cs, n + 1);
    free(cs);
    free(buf);
    return -1;
  }
  // The sender must have got nothing back; count whatever is there now too.
  turn(0, greeted_event, &g);
  double *times = malloc(sizeof(double) * (size_t)n);
  double min_bytes = INFINITY, max_bytes = 0;
  for (long i = 0; i < n; i++) {
    times[i] = (cs[i].done_at - start) / 1000;
    if (cs[i].received < min_bytes) min_bytes = cs[i].received;
    if (cs[i].received > max_bytes) max_bytes = cs[i].received;
  }
  qsort(times, (size_t)n, sizeof(double), cmp_double);
  int verified = min_bytes == f.target && max_bytes == f.target && f.sender_bytes == 0;
  char a[32], b[32], cj[160];
  emit("{\"id\":%ld,\"result\":{\"kind\":\"fanOut\",\"receivers\":%ld,\"messages\":%.0f,"
       "\"warmupMessages\":%.0f,\"deliveries\":%.0f,\"seconds\":%s,\"medianReceiverSeconds\":%s,"
       "\"verified\":%s,\"minReceivedBytes\":%.0f,\"maxReceivedBytes\":%.0f,\"cpu\":%s}}\n",
       job->id, n, messages, warmup_total, (double)n * messages, num(a, times[n - 1]),
       num(b, times[n / 2]), verified ? "true" : "false", min_bytes, max_bytes,
       cpu_json(cj, sizeof cj, cpu));
  close_all(cs, n + 1);
  free(times);
  free(cs);
  free(buf);
  return 0;
}

/* ---- lockstep fan-out ---- */

/**
 * One sender, `receivers` receivers: the sender writes one `size`-byte line, waits until every
 * receiver has it, then writes the next. A round's time is the round trip of one broadcast line,
 * so the figure is the server's latency per broadcast rather than its throughput. Rounds run for
 * `warmupMs` unmeasured, then for `durationMs` measured.
 */
static int lockstep_job(const job_t *job) {
  long n = job->receivers;
  size_t size = (size_t)job->size;
  unsigned char *buf = malloc(2 * size);
  for (size_t i = 0; i < 2; i++) {
    memset(buf + i * size, 'x', size - 1);
    buf[i * size + size - 1] = '\n';
  }
  conn_t *cs = new_conns(n + 1);
  conn_t *sender = &cs[n];
  fan_t f;
  greeted_t g;
  int rc = open_fan(job->port, cs, n, &f, &g, size, size);
  if (rc != 0) {
    free(cs);
    free(buf);
    return -1;
  }
  const unsigned char *payloads[1] = {buf};
  g.payloads = payloads;
  histogram_t *hist = malloc(sizeof *hist);
  hist_reset(hist);
  double rounds = 0, warmup_rounds = 0, measured_start = 0, seconds = 0;
  int measuring = 0;
  double phase_end = now_ms() + (double)job->warmupMs;
  meter_t m;
  for (;;) {
    double now = now_ms();
    if (now >= phase_end) {
      if (measuring) {
        seconds = (now - measured_start) / 1000;
        break;
      }
      measuring = 1;
      phase(job->id, "measureStart");
      meter_start(&m);
      measured_start = now_ms();
      phase_end = measured_start + (double)job->durationMs;
    }
    f.target += (double)size;
    f.pending = n;
    double start = now_ms();
    sender->pending += size;
    if (flush_periodic(sender, buf, size, size) < 0) {
      snprintf(joberr, sizeof joberr, "the sender's connection broke");
      rc = -1;
      break;
    }
    double last = start;
    long seen = f.pending;
    while (f.pending > 0 || sender->pending > 0) {
      turn(100, greeted_event, &g);
      if (f.pending != seen) {
        seen = f.pending;
        last = now_ms();
      } else if (now_ms() - last > STALL_MS) {
        snprintf(joberr, sizeof joberr, "%ld receivers stalled", f.pending);
        rc = -1;
        break;
      }
    }
    if (rc != 0) break;
    if (measuring) {
      hist_record(hist, (now_ms() - start) * 1000, 1);
      rounds += 1;
    } else {
      warmup_rounds += 1;
    }
  }
  if (rc != 0) {
    if (measuring) phase(job->id, "measureEnd");
    close_all(cs, n + 1);
    free(cs);
    free(buf);
    free(hist);
    return -1;
  }
  cpu_t cpu = meter_stop(&m);
  phase(job->id, "measureEnd");
  turn(0, greeted_event, &g);
  double min_bytes = INFINITY, max_bytes = 0;
  for (long i = 0; i < n; i++) {
    if (cs[i].received < min_bytes) min_bytes = cs[i].received;
    if (cs[i].received > max_bytes) max_bytes = cs[i].received;
  }
  int verified = min_bytes == f.target && max_bytes == f.target && f.sender_bytes == 0;
  char a[32], b[32], c1[32], cj[160];
  emit("{\"id\":%ld,\"result\":{\"kind\":\"lockstep\",\"receivers\":%ld,\"rounds\":%.0f,"
       "\"warmupRounds\":%.0f,\"seconds\":%s,\"p50Us\":%s,\"p99Us\":%s,\"verified\":%s,"
       "\"minReceivedBytes\":%.0f,\"maxReceivedBytes\":%.0f,\"cpu\":%s}}\n",
       job->id, n, rounds, warmup_rounds, num(a, seconds), num(b, hist_quantile(hist, 0.5)),
       num(c1, hist_quantile(hist, 0.99)), verified ? "true" : "false", min_bytes, max_bytes,
       cpu_json(cj, sizeof cj, cpu));
  close_all(cs, n + 1);
  free(cs);
  free(buf);
  free(hist);
  return 0;
}

/* ---- idle memory ---- */

static conn_t *idle = NULL;
static long idle_count = 0, idle_capacity = 0;

/** How many idle connections still wait, and whether each sends a partial line after its greeting. */
typedef struct {
  long waiting;
  int partial_line;
} idle_wait_t;

static void idle_event(conn_t *c, uint32_t events, void *ctx) {
  idle_wait_t *w = ctx;
  (void)events;
  ssize_t r = read_once(c);
  if (r == -2) return;
  if (!c->greeted && r > 0) {
    c->greeted = 1;
    w->waiting -= 1;
    // After the greeting, a byte that starts a line the server must hold.
    if (w->partial_line && write(c->fd, "x", 1) != 1) close_conn(c);
  }
  if (r <= 0) close_conn(c);
}

static int idle_open_job(const job_t *job) {
  meter_t m;
  meter_start(&m);
  long n = job->connections;
  if (idle_count + n > idle_capacity) {
    // conn_t's are registered with epoll by address: grow only while none is open.
    if (idle_count > 0) {
      snprintf(joberr, sizeof joberr, "idleOpen beyond the first batch's capacity");
      return -1;
    }
    free(idle);
    idle_capacity = 4 * n > 20000 ? 4 * n : 20000;
    idle = new_conns(idle_capacity);
  }
  idle_wait_t w = {n, job->partialLine != 0};
  for (long i = 0; i < n; i++) {
    conn_t *c = &idle[idle_count + i];
    if (open_blocking(job->port, c) != 0) {
      snprintf(joberr, sizeof joberr, "connection %ld failed: %s", i, strerror(errno));
      return -1;
    }
    // One echoed byte proves the server has accepted the connection and is reading it.
    if (!w.partial_line && write(c->fd, "x", 1) != 1) {
      snprintf(joberr, sizeof joberr, "write to connection %ld failed", i);
      return -1;
    }
    if (i % 64 == 63) turn(0, idle_event, &w);
  }
  idle_count += n;
  double give_up = now_ms() + STALL_MS;
  while (w.waiting > 0 && now_ms() < give_up) turn(100, idle_event, &w);
  if (w.waiting > 0) {
    snprintf(joberr, sizeof joberr, "%ld connections never answered", w.waiting);
    return -1;
  }
  // Nothing answers a partial line: give the server a moment to read the bytes.
  if (w.partial_line) run_until(now_ms() + 500, idle_event, &w);
  cpu_t cpu = meter_stop(&m);
  char a[32];
  emit("{\"id\":%ld,\"result\":{\"kind\":\"idleOpen\",\"opened\":%ld,\"seconds\":%s}}\n", job->id,
       n, num(a, cpu.seconds));
  return 0;
}

static int idle_close_job(const job_t *job) {
  long closed = idle_count;
  close_all(idle, idle_count);
  free(idle);
  idle = NULL;
  idle_count = idle_capacity = 0;
  emit("{\"id\":%ld,\"result\":{\"kind\":\"idleClose\",\"closed\":%ld}}\n", job->id, closed);
  return 0;
}

/* ---- trickle ---- */

typedef struct {
  int measuring;
  double received;
} trickle_t;

static void trickle_bytes(conn_t *c, const unsigned char *data, size_t n, void *ctx) {
  (void)c;
  (void)data;
  trickle_t *t = ctx;
  if (t->measuring) t->received += (double)n;
}

/** The newcomer being timed, if any: its own event handler, beside the trickling clients'. */
typedef struct {
  greeted_t *g;
  conn_t *probe;
  int probe_done, probe_greeted;
} trickle_loop_t;

static void trickle_event(conn_t *c, uint32_t events, void *ctx) {
  trickle_loop_t *l = ctx;
  if (c != l->probe) {
    greeted_event(c, events, l->g);
    return;
  }
  ssize_t r = read_once(c);
  if (r == -2 && !(events & EPOLLERR)) return;
  if (r > 0 && memchr(rbuf, '\n', (size_t)r) == NULL) return;
  l->probe_done = 1;
  l->probe_greeted = r > 0;
}

static int trickle_job(const job_t *job) {
  long n = job->connections;
  trickle_t t = {0, 0};
  // Trickling clients write a byte at a time: a 1-byte payload with period 1.
  static const unsigned char byte[2] = {'x', 'x'};
  const unsigned char *payloads[1] = {byte};
  greeted_t g = {trickle_bytes, &t, 0, 0, NULL, 1, 1, 0, 1};
  conn_t *cs = new_conns(n + 1);
  conn_t *probe = &cs[n];
  if (open_greeted(job->port, cs, n, &g) != 0) {
    close_all(cs, n + 1);
    free(cs);
    return -1;
  }
  (void)payloads;
  trickle_loop_t l = {&g, probe, 0, 0};
  double sent = 0;
  double start = now_ms();
  long due = 0;
  // Client i sends at start + (i / n + k) × intervalMs: evenly spread, each once per interval.
#define TICK()                                                                              \
  do {                                                                                      \
    long target_ = (long)floor((now_ms() - start) / (double)job->intervalMs * (double)n);   \
    for (; due < target_; due++) {                                                         \
      conn_t *c_ = &cs[due % n];                                                            \
      if (c_->fd < 0) continue;                                                             \
      c_->pending += 1;                                                                     \
      if (!c_->want_out && flush_periodic(c_, byte, 1, 1) < 0) {                            \
        g.errors += 1;                                                                      \
        close_conn(c_);                                                                     \
        continue;                                                                           \
      }                                                                                     \
      if (t.measuring) sent += 1;                                                           \
    }                                                                                       \
  } while (0)
  // EPOLLOUT for a trickling client flushes its byte through greeted_event.
  g.payloads = payloads;
  g.payload_len = 1;
  g.period = 1;
  for (;;) {
    double left = start + job->warmupMs - now_ms();
    if (left <= 0) break;
    turn(left < 10 ? left : 10, trickle_event, &l);
    TICK();
  }
  histogram_t hist;
  hist_reset(&hist);
  double probes = 0, max_us = 0, ungreeted = 0;
  t.measuring = 1;
  phase(job->id, "measureStart");
  meter_t m;
  meter_start(&m);
  double end = m.start + job->durationMs;
  while (now_ms() < end) {
    double probe_start = now_ms();
    double timeout = end - probe_start + 1000;
    if (timeout < job->probeEveryMs) timeout = (double)job->probeEveryMs;
    probe->fd = -1;
    l.probe_done = 0;
    l.probe_greeted = 0;
    if (open_async(job->port, probe) != 0) l.probe_done = 1;
    while (!l.probe_done && now_ms() - probe_start < timeout) {
      turn(10, trickle_event, &l);
      TICK();
    }
    double us = (now_ms() - probe_start) * 1000;
    close_conn(probe);
    if (!l.probe_greeted) ungreeted += 1;
    hist_record(&hist, us, 1);
    if (us > max_us) max_us = us;
    probes += 1;
    double next = probe_start + job->probeEveryMs;
    if (next > end) next = end;
    for (double left = next - now_ms(); left > 0; left = next - now_ms()) {
      turn(left < 10 ? left : 10, trickle_event, &l);
      TICK();
    }
  }
  t.measuring = 0;
  cpu_t cpu = meter_stop(&m);
  phase(job->id, "measureEnd");
#undef TICK
  close_all(cs, n + 1);
  free(cs);
  char a[32], b[32], c1[32], d[32], cj[160];
  emit("{\"id\":%ld,\"result\":{\"kind\":\"trickle\",\"connections\":%ld,\"seconds\":%s,"
       "\"sent\":%.0f,\"received\":%.0f,\"probes\":%.0f,\"greetP50Us\":%s,\"greetP99Us\":%s,"
       "\"greetMaxUs\":%s,\"ungreeted\":%.0f,\"cpu\":%s,\"errors\":%.0f}}\n",
       job->id, n, num(a, cpu.seconds), sent, t.received, probes,
       num(b, hist_quantile(&hist, 0.5)), num(c1, hist_quantile(&hist, 0.99)), num(d, max_us),
       ungreeted, cpu_json(cj, sizeof cj, cpu), g.errors);
  return 0;
}

/* ---- fairness ---- */

#define FIRST_ID 'A'

typedef struct {
  const job_t *job;
  int measuring;
  double *delivered;
} fair_t;

/** Counts each sender's lines by their first byte: a line start follows a newline. */
static void fair_bytes(conn_t *c, const unsigned char *data, size_t n, void *ctx) {
  fair_t *f = ctx;
  const unsigned char *at = data, *end = data + n;
  int start = c->at_line_start;
  while (at < end) {
    if (start && f->measuring) {
      int sender = *at - FIRST_ID;
      if (sender >= 0 && sender < f->job->senders) f->delivered[sender] += (double)f->job->size;
    }
    const unsigned char *nl = memchr(at, '\n', (size_t)(end - at));
    if (nl == NULL) {
      start = 0;
      break;
    }
    at = nl + 1;
    start = 1;
  }
  c->at_line_start = start;
}

static int fairness_job(const job_t *job) {
  long n = job->senders;
  size_t size = (size_t)job->size;
  size_t lines = (size_t)((job->chunk + job->size - 1) / job->size);
  size_t len = lines * size;
  unsigned char **payloads = calloc((size_t)n, sizeof *payloads);
  for (long s = 0; s < n; s++) {
    payloads[s] = malloc(len + size);
    for (size_t i = 0; i < lines + 1; i++) {
      unsigned char *line = payloads[s] + i * size;
      memset(line, 'x', size);
      line[0] = (unsigned char)(FIRST_ID + s);
      line[size - 1] = '\n';
    }
  }
  fair_t f = {job, 0, calloc((size_t)n, sizeof(double))};
  greeted_t g = {fair_bytes, &f, 0, 0, NULL, len, size, 0, 0};
  conn_t *cs = new_conns(n);
  int rc = open_greeted(job->port, cs, n, &g);
  if (rc == 0) {
    g.payloads = (const unsigned char **)payloads;
    g.endless = 1;
    for (long s = 0; s < n; s++) {
      cs[s].pending = UINT64_MAX / 2;
      if (flush_periodic(&cs[s], payloads[s], len, size) < 0) close_conn(&cs[s]);
    }
    run_until(now_ms() + job->warmupMs, greeted_event, &g);
    f.measuring = 1;
    phase(job->id, "measureStart");
    meter_t m;
    meter_start(&m);
    run_until(m.start + job->durationMs, greeted_event, &g);
    f.measuring = 0;
    cpu_t cpu = meter_stop(&m);
    phase(job->id, "measureEnd");
    // What the others received of each sender's lines, per receiver.
    double sum = 0, squares = 0;
    char per[4096];
    size_t at = 0;
    per[0] = '\0';
    for (long s = 0; s < n; s++) {
      double x = f.delivered[s] / (double)(n > 1 ? n - 1 : 1);
      sum += x;
      squares += x * x;
      at += (size_t)snprintf(per + at, sizeof per - at, "%s%.17g", s == 0 ? "" : ",", x);
    }
    double jain = squares == 0 ? 1 : sum * sum / ((double)n * squares);
    char a[32], b[32], cj[160];
    emit("{\"id\":%ld,\"result\":{\"kind\":\"fairness\",\"seconds\":%s,\"perSender\":[%s],"
         "\"jain\":%s,\"cpu\":%s}}\n",
         job->id, num(a, cpu.seconds), per, num(b, jain), cpu_json(cj, sizeof cj, cpu));
  }
  close_all(cs, n);
  free(cs);
  for (long s = 0; s < n; s++) free(payloads[s]);
  free(payloads);
  free(f.delivered);
  return rc;
}

/* ---- main ---- */

static void json_string(const char *text, char *out, size_t n) {
  size_t o = 0;
  for (const char *p = text; *p != '\0' && o + 7 < n; p++) {
    if (*p == '"' || *p == '\\') {
      out[o++] = '\\';
      out[o++] = *p;
    } else if ((unsigned char)*p < 0x20) {
      o += (size_t)snprintf(out + o, n - o, "\\u%04x", *p);
    } else {
      out[o++] = *p;
    }
  }
  out[o] = '\0';
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  // Idle memory holds thousands of connections: take the whole hard limit on descriptors.
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  epfd = epoll_create1(0);
  char line[4096];
  while (fgets(line, sizeof line, stdin) != NULL) {
    job_t job;
    if (!parse_job(line, &job)) continue;
    joberr[0] = '\0';
    int rc;
    if (strcmp(job.kind, "echo") == 0) rc = echo_job(&job);
    else if (strcmp(job.kind, "connectionRate") == 0) rc = rate_job(&job);
    else if (strcmp(job.kind, "fanOut") == 0) rc = fanout_job(&job);
    else if (strcmp(job.kind, "lockstep") == 0) rc = lockstep_job(&job);
    else if (strcmp(job.kind, "idleOpen") == 0) rc = idle_open_job(&job);
    else if (strcmp(job.kind, "idleClose") == 0) rc = idle_close_job(&job);
    else if (strcmp(job.kind, "trickle") == 0) rc = trickle_job(&job);
    else if (strcmp(job.kind, "fairness") == 0) rc = fairness_job(&job);
    else {
      snprintf(joberr, sizeof joberr, "unknown job kind %s", job.kind);
      rc = -1;
    }
    if (rc != 0) {
      char escaped[600];
      json_string(joberr[0] != '\0' ? joberr : "failed", escaped, sizeof escaped);
      emit("{\"id\":%ld,\"error\":\"%s\"}\n", job.id, escaped);
    }
  }
  return 0;
}
