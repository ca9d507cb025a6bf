// See include/wosdp.h. The channel is the serial port's file descriptor, read and written
// without blocking; libosdp's events and notifications are queued for the owning thread.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "osdp.h"
#include "wosdp.h"

#define WOSDP_QUEUE 256
#define WOSDP_OUTSTANDING 64
#define WOSDP_MAX_READERS 16

struct wosdp_bus {
	int fd;
	osdp_t *ctx;
	int count;
	char names[WOSDP_MAX_READERS][16];
	wosdp_event queue[WOSDP_QUEUE];
	int head, tail;
	wosdp_counters counters;
	// Commands libosdp holds until their completion callback (app-owned queue data).
	struct osdp_cmd *outstanding[WOSDP_OUTSTANDING];
	int device_gone;
};

// libosdp's log callback is process-wide; each message is charged to the bus whose
// refresh is running on this thread.
static __thread wosdp_bus *current_bus = NULL;
static int next_channel_id = 1;

static void push(wosdp_bus *bus, const wosdp_event *ev)
{
	int next = (bus->tail + 1) % WOSDP_QUEUE;
	if (next == bus->head) { bus->counters.events_dropped++; return; }
	bus->queue[bus->tail] = *ev;
	bus->tail = next;
}

static int channel_recv(void *data, uint8_t *buf, int maxlen)
{
	wosdp_bus *bus = data;
	ssize_t n = read(bus->fd, buf, (size_t)maxlen);
	if (n > 0) { bus->counters.bytes_in += (uint64_t)n; return (int)n; }
	// A serial adapter unplugged reports ENODEV/ENXIO: the bus is reopened above.
	if (n < 0 && (errno == ENODEV || errno == ENXIO)) bus->device_gone = 1;
	return 0;
}

static int channel_send(void *data, uint8_t *buf, int len)
{
	wosdp_bus *bus = data;
	ssize_t n = write(bus->fd, buf, (size_t)len);
	if (n > 0) { bus->counters.bytes_out += (uint64_t)n; return (int)n; }
	if (n < 0 && (errno == ENODEV || errno == ENXIO)) bus->device_gone = 1;
	return 0;
}

static void channel_flush(void *data)
{
	wosdp_bus *bus = data;
	// libosdp flushes before each command: whatever waits unread was sent when no reply was
	// due (noise, or a reply too late to count) and belongs to no frame. Counted, or noise
	// that lands between polls would vanish from the counters (and did, under load).
	int pending = 0;
	if (ioctl(bus->fd, FIONREAD, &pending) == 0 && pending > 0) bus->counters.bytes_skipped += (uint64_t)pending;
	tcflush(bus->fd, TCIFLUSH);
}

static int contains(const char *msg, const char *what) { return strstr(msg, what) != NULL; }

static void log_callback(int level, const char *file, unsigned long line, const char *msg)
{
	wosdp_bus *bus = current_bus;
	// WARDEN_OSDP_LOG=debug (or info) shows libosdp's own log on stderr, for wiring trials.
	static int verbosity = -1;
	if (verbosity < 0) {
		const char *v = getenv("WARDEN_OSDP_LOG");
		verbosity = !v ? 0 : strcmp(v, "debug") == 0 ? 7 : 6;
	}
	if (level <= verbosity) fprintf(stderr, "libosdp: %s:%lu %s", file ? file : "?", line, msg);
	if (!bus) return;
	unsigned skipped = 0;
	// Bytes before a frame's start that belong to no frame (noise, garbage), which
	// libosdp mentions only at debug level.
	if (sscanf(msg, "Packet scan skipped:%u", &skipped) == 1) { bus->counters.bytes_skipped += skipped; return; }
	if (level > 3 /* LOG_ERR */) return;
	if (contains(msg, "CHLNG failed") || contains(msg, "SCRYPT failed") || contains(msg, "Failed to set SCBK")) {
		bus->counters.sc_failures++;
		// The message before says why ("Failed to verify PD cryptogram", a NAK).
		memcpy(bus->counters.sc_reason, bus->counters.last_error[0] ? bus->counters.last_error : msg, sizeof(bus->counters.sc_reason));
		bus->counters.sc_reason[sizeof(bus->counters.sc_reason) - 1] = 0;
	} else if (file && strcmp(file, "osdp_phy.c") == 0) {
		bus->counters.frames_rejected++;
	}
	snprintf(bus->counters.last_error, sizeof(bus->counters.last_error), "%s", msg);
	size_t n = strlen(bus->counters.last_error);
	while (n > 0 && (bus->counters.last_error[n - 1] == '\n' || bus->counters.last_error[n - 1] == '\r')) bus->counters.last_error[--n] = 0;
}

static int event_callback(void *arg, int pd, struct osdp_event *ev)
{
	wosdp_bus *bus = arg;
	wosdp_event out;
	memset(&out, 0, sizeof(out));
	out.reader = pd;
	switch (ev->type) {
	case OSDP_EVENT_CARDREAD:
		out.kind = WOSDP_EVENT_CARD;
		out.format = ev->cardread.format;
		out.bits = ev->cardread.length;
		out.length = ev->cardread.format == OSDP_CARD_FMT_ASCII ? ev->cardread.length : (ev->cardread.length + 7) / 8;
		if (out.length < 0 || out.length > (int)sizeof(out.data)) return 0;
		memcpy(out.data, ev->cardread.data, (size_t)out.length);
		out.arg = ev->cardread.direction;
		break;
	case OSDP_EVENT_KEYPRESS:
		out.kind = WOSDP_EVENT_KEYPAD;
		out.length = ev->keypress.length;
		if (out.length < 0 || out.length > (int)sizeof(out.data)) return 0;
		memcpy(out.data, ev->keypress.data, (size_t)out.length);
		break;
	case OSDP_EVENT_STATUS:
		out.kind = WOSDP_EVENT_STATUS;
		out.arg = ev->status.type;
		out.length = ev->status.nr_entries;
		if (out.length < 0 || out.length > (int)sizeof(out.data)) return 0;
		memcpy(out.data, ev->status.report, (size_t)out.length);
		break;
	case OSDP_EVENT_NOTIFICATION:
		switch (ev->notif.type) {
		case OSDP_EVENT_NOTIFICATION_PD_STATUS:
			out.kind = ev->notif.arg0 ? WOSDP_EVENT_ONLINE : WOSDP_EVENT_OFFLINE;
			wosdp_state(bus, pd, NULL, &out.secure);
			break;
		case OSDP_EVENT_NOTIFICATION_SC_STATUS:
			out.kind = WOSDP_EVENT_SECURE;
			out.arg = ev->notif.arg0;
			out.secure = ev->notif.arg1;
			break;
		default:
			return 0;  // command outcomes come through the completion callback
		}
		break;
	default:
		return 0;
	}
	push(bus, &out);
	return 0;
}

static void completion_callback(void *arg, int pd, const struct osdp_cmd *cmd, enum osdp_completion_status status)
{
	wosdp_bus *bus = arg;
	for (int i = 0; i < WOSDP_OUTSTANDING; i++) {
		if (bus->outstanding[i] != cmd) continue;
		wosdp_event out;
		memset(&out, 0, sizeof(out));
		out.kind = WOSDP_EVENT_COMMAND_DONE;
		out.reader = pd;
		out.arg = cmd->id;
		out.ok = status == OSDP_COMPLETION_OK;
		push(bus, &out);
		free(bus->outstanding[i]);
		bus->outstanding[i] = NULL;
		return;
	}
	// A command libosdp made itself (the install-time KEYSET): not ours to free.
}

static speed_t speed_for(int baud)
{
	switch (baud) {
	case 9600: return B9600;
	case 19200: return B19200;
	case 38400: return B38400;
	case 57600: return B57600;
	case 115200: return B115200;
	case 230400: return B230400;
	default: return 0;
	}
}

static void fail(char *error, int error_len, const char *fmt, const char *arg)
{
	if (error && error_len > 0) snprintf(error, (size_t)error_len, fmt, arg);
}

wosdp_bus *wosdp_open(const char *device, int baud, int count, const wosdp_reader *readers, char *error, int error_len)
{
	speed_t speed = speed_for(baud);
	if (!speed) { fail(error, error_len, "unsupported baud rate (use 9600, 19200, 38400, 57600, 115200 or 230400)%s", ""); return NULL; }
	int fd = open(device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		char what[256];
		snprintf(what, sizeof(what), "cannot open %s (%s%s)", device, strerror(errno),
			 errno == EBUSY ? ": another process holds it; is warden run running?" : errno == EACCES ? ": add the user to the dialout group" : "");
		fail(error, error_len, "%s", what);
		return NULL;
	}
	// One control panel per bus: a second open of the port (warden run and warden reader
	// install together) fails with EBUSY instead of two masters garbling the line.
	if (ioctl(fd, TIOCEXCL) != 0 && errno != ENOTTY) { close(fd); fail(error, error_len, "cannot take %s for this process alone", device); return NULL; }
	struct termios t;
	if (tcgetattr(fd, &t) != 0) { close(fd); fail(error, error_len, "%s is not a serial port", device); return NULL; }
	cfmakeraw(&t);
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cflag &= ~(CSTOPB | PARENB | CRTSCTS);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	cfsetispeed(&t, speed);
	cfsetospeed(&t, speed);
	if (tcsetattr(fd, TCSANOW, &t) != 0) { close(fd); fail(error, error_len, "cannot set %s raw", device); return NULL; }
	tcflush(fd, TCIOFLUSH);
	wosdp_bus *bus = wosdp_open_fd(fd, count, readers, error, error_len);
	return bus;
}

wosdp_bus *wosdp_open_fd(int fd, int count, const wosdp_reader *readers, char *error, int error_len)
{
	if (count < 1 || count > WOSDP_MAX_READERS) { close(fd); fail(error, error_len, "a bus carries 1 to 16 readers%s", ""); return NULL; }
	wosdp_bus *bus = calloc(1, sizeof(*bus));
	if (!bus) { close(fd); fail(error, error_len, "out of memory%s", ""); return NULL; }
	bus->fd = fd;
	bus->count = count;
	osdp_pd_info_t info[WOSDP_MAX_READERS];
	memset(info, 0, sizeof(info));
	int channel_id = __atomic_fetch_add(&next_channel_id, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < count; i++) {
		snprintf(bus->names[i], sizeof(bus->names[i]), "reader-%d", readers[i].address);
		info[i].name = bus->names[i];
		info[i].baud_rate = 115200;
		info[i].address = readers[i].address;
		info[i].flags = OSDP_FLAG_ENABLE_NOTIFICATION;
		if (readers[i].mode == WOSDP_SECURE) info[i].flags |= OSDP_FLAG_ENFORCE_SECURE;
		info[i].scbk = readers[i].mode == WOSDP_PLAIN ? NULL : readers[i].scbk;
		info[i].channel.data = bus;
		info[i].channel.id = channel_id;
		info[i].channel.recv = channel_recv;
		info[i].channel.send = channel_send;
		info[i].channel.flush = channel_flush;
	}
	osdp_set_log_callback(log_callback);
	current_bus = bus;
	bus->ctx = osdp_cp_setup(count, info);
	current_bus = NULL;
	if (!bus->ctx) {
		fail(error, error_len, "libosdp refused the set-up: %s", bus->counters.last_error[0] ? bus->counters.last_error : "see the reader addresses and keys");
		close(fd);
		free(bus);
		return NULL;
	}
	osdp_cp_set_event_callback(bus->ctx, event_callback, bus);
	osdp_cp_set_command_completion_callback(bus->ctx, completion_callback, bus);
	return bus;
}

int wosdp_refresh(wosdp_bus *bus)
{
	current_bus = bus;
	osdp_cp_refresh(bus->ctx);
	current_bus = NULL;
	return (bus->device_gone || wosdp_crypto_failures() > 0) ? -1 : 0;
}

int wosdp_next_event(wosdp_bus *bus, wosdp_event *out)
{
	if (bus->head == bus->tail) return 0;
	*out = bus->queue[bus->head];
	bus->head = (bus->head + 1) % WOSDP_QUEUE;
	return 1;
}

static int submit(wosdp_bus *bus, int reader, struct osdp_cmd *cmd)
{
	if (reader < 0 || reader >= bus->count) { free(cmd); return -1; }
	int slot = -1;
	for (int i = 0; i < WOSDP_OUTSTANDING; i++) if (!bus->outstanding[i]) { slot = i; break; }
	if (slot < 0) { free(cmd); return -1; }
	bus->outstanding[slot] = cmd;
	current_bus = bus;
	int rc = osdp_cp_submit_command(bus->ctx, reader, cmd);
	current_bus = NULL;
	if (rc != 0) { bus->outstanding[slot] = NULL; free(cmd); }
	return rc;
}

static struct osdp_cmd *new_cmd(enum osdp_cmd_e id)
{
	struct osdp_cmd *cmd = calloc(1, sizeof(*cmd));
	if (cmd) cmd->id = id;
	return cmd;
}

int wosdp_led(wosdp_bus *bus, int reader, int color, int on_tenths, int off_tenths, int seconds_tenths)
{
	struct osdp_cmd *cmd = new_cmd(OSDP_CMD_LED);
	if (!cmd) return -1;
	// OSDP's LED control codes: temporary 2 sets a timed state and 1 cancels it back to
	// the permanent one; permanent 1 sets the resting state.
	struct osdp_cmd_led_params p = {
		.control_code = seconds_tenths > 0 ? 2 : 1,
		.on_count = (uint8_t)(on_tenths > 0 ? on_tenths : 1),
		.off_count = (uint8_t)off_tenths,
		.on_color = (uint8_t)color,
		.off_color = off_tenths > 0 ? OSDP_LED_COLOR_NONE : (uint8_t)color,
		.timer_count = (uint16_t)seconds_tenths,
	};
	cmd->led.reader = 0;
	cmd->led.led_number = 0;
	if (seconds_tenths > 0) {
		cmd->led.temporary = p;
	} else {
		p.timer_count = 0;
		cmd->led.permanent = p;
		cmd->led.temporary.control_code = 1;  // cancel any temporary state
	}
	return submit(bus, reader, cmd);
}

int wosdp_buzzer(wosdp_bus *bus, int reader, int on_tenths, int off_tenths, int count)
{
	struct osdp_cmd *cmd = new_cmd(OSDP_CMD_BUZZER);
	if (!cmd) return -1;
	cmd->buzzer.reader = 0;
	cmd->buzzer.control_code = 2;  // default tone
	cmd->buzzer.on_count = (uint8_t)on_tenths;
	cmd->buzzer.off_count = (uint8_t)off_tenths;
	cmd->buzzer.rep_count = (uint8_t)count;
	return submit(bus, reader, cmd);
}

int wosdp_output(wosdp_bus *bus, int reader, int output, int on, int tenths)
{
	struct osdp_cmd *cmd = new_cmd(OSDP_CMD_OUTPUT);
	if (!cmd) return -1;
	cmd->output.output_no = (uint8_t)output;
	// 1: permanent off, 2: permanent on, 5: temporary on for the timer, then off.
	cmd->output.control_code = !on ? 1 : tenths > 0 ? 5 : 2;
	cmd->output.timer_count = (uint16_t)tenths;
	return submit(bus, reader, cmd);
}

int wosdp_keyset(wosdp_bus *bus, int reader, const uint8_t key[16])
{
	struct osdp_cmd *cmd = new_cmd(OSDP_CMD_KEYSET);
	if (!cmd) return -1;
	cmd->keyset.type = 1;  // SCBK
	cmd->keyset.length = 16;
	memcpy(cmd->keyset.data, key, 16);
	return submit(bus, reader, cmd);
}

int wosdp_disable(wosdp_bus *bus, int reader)
{
	if (reader < 0 || reader >= bus->count) return -1;
	current_bus = bus;
	int rc = osdp_cp_disable_pd(bus->ctx, reader);
	current_bus = NULL;
	return rc;
}

int wosdp_restart(wosdp_bus *bus, int reader)
{
	if (reader < 0 || reader >= bus->count) return -1;
	current_bus = bus;
	int rc = osdp_cp_disable_pd(bus->ctx, reader);
	if (rc == 0) rc = osdp_cp_enable_pd(bus->ctx, reader);
	current_bus = NULL;
	return rc;
}

static int bit(const uint8_t *mask, int i) { return (mask[i / 8] >> (i % 8)) & 1; }

int wosdp_state(const wosdp_bus *bus, int reader, int *online, int *secure)
{
	if (reader < 0 || reader >= bus->count) return -1;
	uint8_t on[16] = {0}, sc[16] = {0};
	osdp_get_status_mask(bus->ctx, on);
	osdp_get_sc_status_mask(bus->ctx, sc);
	if (online) *online = bit(on, reader);
	if (secure) *secure = bit(sc, reader);
	return 0;
}

int wosdp_identity_of(const wosdp_bus *bus, int reader, wosdp_identity *out)
{
	if (reader < 0 || reader >= bus->count) return -1;
	struct osdp_pd_id id;
	memset(&id, 0, sizeof(id));
	if (osdp_cp_get_pd_id(bus->ctx, reader, &id) != 0) return -1;
	out->version = id.version;
	out->model = id.model;
	out->vendor_code = id.vendor_code;
	out->serial_number = id.serial_number;
	out->firmware_version = id.firmware_version;
	return 0;
}

int wosdp_capability(const wosdp_bus *bus, int reader, int function_code, int *compliance, int *items)
{
	if (reader < 0 || reader >= bus->count) return -1;
	struct osdp_pd_cap cap = { .function_code = (uint8_t)function_code };
	if (osdp_cp_get_capability(bus->ctx, reader, &cap) != 0) return -1;
	*compliance = cap.compliance_level;
	*items = cap.num_items;
	return 0;
}

int wosdp_pending_commands(const wosdp_bus *bus)
{
	int n = 0;
	for (int i = 0; i < WOSDP_OUTSTANDING; i++) n += bus->outstanding[i] != NULL;
	return n;
}

void wosdp_get_counters(const wosdp_bus *bus, wosdp_counters *out)
{
	*out = bus->counters;
	out->crypto_failures = wosdp_crypto_failures();
}

void wosdp_close(wosdp_bus *bus)
{
	if (!bus) return;
	current_bus = bus;
	osdp_cp_teardown(bus->ctx);  // completes what is queued (ABORTED), which frees ours
	current_bus = NULL;
	for (int i = 0; i < WOSDP_OUTSTANDING; i++) free(bus->outstanding[i]);
	close(bus->fd);
	free(bus);
}
