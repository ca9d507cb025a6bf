// Warden's shim over libosdp, as an OSDP control panel (CP): one bus (a serial port) with
// one or more readers (PDs) at their addresses. Plain C: libosdp is C, nothing throws.
//
// Not thread-safe: one thread owns a bus and makes every call on it (Warden's OSDPBus).
#ifndef WARDEN_WOSDP_H
#define WARDEN_WOSDP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wosdp_bus wosdp_bus;

/// A reader's set-up. In `secure` mode the reader must run Secure Channel under `scbk`
/// (libosdp's ENFORCE_SECURE: no plain text, no default key). In `install` mode it may
/// use the default key SCBK-D once, and the CP then sets `scbk` on it (KEYSET).
enum wosdp_mode { WOSDP_SECURE = 0, WOSDP_INSTALL = 1, WOSDP_PLAIN = 2 };

typedef struct {
	int address;          // 0-126
	int mode;             // enum wosdp_mode
	uint8_t scbk[16];     // the reader's key (secure, install)
} wosdp_reader;

enum wosdp_event_kind {
	WOSDP_EVENT_CARD = 1,       // format, bits, data
	WOSDP_EVENT_KEYPAD,         // length keys in data
	WOSDP_EVENT_STATUS,         // arg: report type (libosdp's enum), data: the report bits
	WOSDP_EVENT_ONLINE,         // secure: 1 under Secure Channel
	WOSDP_EVENT_OFFLINE,
	WOSDP_EVENT_SECURE,         // arg 1: active, 0: inactive; secure: 1 with SCBK-D
	WOSDP_EVENT_COMMAND_DONE,   // arg: command id (OSDP_CMD_*), ok
};

typedef struct {
	int kind;
	int reader;           // index into the readers given to wosdp_open
	int format;           // card: OSDP_CARD_FMT_*
	int bits;             // card: length in bits (raw formats) or bytes (ASCII)
	int arg;
	int ok;
	int secure;
	int length;           // bytes of data
	uint8_t data[64];
} wosdp_event;

typedef struct {
	uint64_t bytes_in, bytes_out;
	uint64_t frames_rejected;   // replies that failed framing, CRC, address or MAC checks
	uint64_t bytes_skipped;     // bytes that were no part of any frame (noise, garbage, or unread when a command was due)
	uint64_t sc_failures;       // secure-channel set-ups refused (wrong key, no SC)
	uint64_t events_dropped;    // events lost to a full queue (never expected)
	int crypto_failures;        // process-wide: AES or RAND_bytes failed
	char last_error[160];       // libosdp's last error message on this bus
	char sc_reason[160];        // why the last Secure Channel set-up failed
} wosdp_counters;

typedef struct {
	int version, model;
	uint32_t vendor_code, serial_number, firmware_version;
} wosdp_identity;

/// Opens `device` (a serial port or pty) raw at `baud` and sets up the readers. NULL with
/// a message in `error` on failure.
wosdp_bus *wosdp_open(const char *device, int baud, int count, const wosdp_reader *readers,
		      char *error, int error_len);
/// A bus over a caller's file descriptor (tests, the fuzz harness); the bus closes it.
wosdp_bus *wosdp_open_fd(int fd, int count, const wosdp_reader *readers, char *error, int error_len);

/// One turn of libosdp's state machines. -1 when the bus can no longer be trusted: the
/// device has gone, or the crypto backend failed (then nothing on it may be believed).
int wosdp_refresh(wosdp_bus *bus);
/// Takes the next event into `out`: 1 if there was one.
int wosdp_next_event(wosdp_bus *bus, wosdp_event *out);

/// Reader feedback. `color`: OSDP_LED_COLOR_*; `on_tenths`/`off_tenths` a flash pattern
/// (off 0: steady); `seconds_tenths` 0: permanent, else a temporary state for that long.
int wosdp_led(wosdp_bus *bus, int reader, int color, int on_tenths, int off_tenths, int seconds_tenths);
int wosdp_buzzer(wosdp_bus *bus, int reader, int on_tenths, int off_tenths, int count);
/// An output of the reader (a strike it drives): on for `tenths` (0: until turned off).
int wosdp_output(wosdp_bus *bus, int reader, int output, int on, int tenths);
/// Sets a new Secure Channel key on the reader (KEYSET, only under Secure Channel).
int wosdp_keyset(wosdp_bus *bus, int reader, const uint8_t key[16]);
/// Disables and re-enables a reader, so it is tried again now rather than after
/// libosdp's offline wait.
int wosdp_restart(wosdp_bus *bus, int reader);
/// Takes a reader off the bus until `wosdp_restart`.
int wosdp_disable(wosdp_bus *bus, int reader);

int wosdp_state(const wosdp_bus *bus, int reader, int *online, int *secure);
int wosdp_identity_of(const wosdp_bus *bus, int reader, wosdp_identity *out);
/// The reader's capability for an OSDP function code: 0 with compliance and items.
int wosdp_capability(const wosdp_bus *bus, int reader, int function_code, int *compliance, int *items);
void wosdp_get_counters(const wosdp_bus *bus, wosdp_counters *out);
/// Commands submitted and not yet completed (sent and answered, or failed).
int wosdp_pending_commands(const wosdp_bus *bus);
void wosdp_close(wosdp_bus *bus);

/// Random bytes from OpenSSL (a new key for a reader): 0 on success.
int wosdp_random(uint8_t *buf, int len);
/// Crypto failures since the process started (see crypto_openssl.c).
int wosdp_crypto_failures(void);

#ifdef __cplusplus
}
#endif
#endif
