// libosdp's crypto backend on OpenSSL (Debian's libcrypto), in place of the sdist's only
// backend, TinyAES, whose osdp_fill_random() draws the secure-channel nonces from an
// unseeded rand(): the same "random" challenge on every start, which lets a recorded
// session be replayed. Here the nonces come from RAND_bytes (the kernel's CSPRNG behind
// OpenSSL's DRBG) and AES from EVP. libosdp declares these five functions in
// osdp_common.h and calls them from osdp_sc.c and osdp_pd.c.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "wosdp.h"

// A failure here has no way back into libosdp (the functions return void), so it is
// remembered: the shim reports it, and a session whose crypto failed is never trusted.
static volatile int crypto_failures = 0;

int wosdp_crypto_failures(void) { return crypto_failures; }

void osdp_crypt_setup(void) {}
void osdp_crypt_teardown(void) {}

static void aes128(int encrypt, const uint8_t *key, const uint8_t *iv, uint8_t *data, int len)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int out = 0, tail = 0, ok = ctx != NULL;
	uint8_t *buf = ok ? malloc(len + 16) : NULL;
	ok = ok && buf != NULL;
	ok = ok && EVP_CipherInit_ex(ctx, iv ? EVP_aes_128_cbc() : EVP_aes_128_ecb(), NULL, key, iv, encrypt) == 1;
	ok = ok && EVP_CIPHER_CTX_set_padding(ctx, 0) == 1;
	ok = ok && EVP_CipherUpdate(ctx, buf, &out, data, len) == 1;
	ok = ok && EVP_CipherFinal_ex(ctx, buf + out, &tail) == 1;
	if (ok && out + tail == len) {
		memcpy(data, buf, len);
	} else {
		// Never leave plaintext where ciphertext was expected, nor the reverse.
		memset(data, 0, len);
		crypto_failures++;
	}
	free(buf);
	EVP_CIPHER_CTX_free(ctx);
}

void osdp_encrypt(uint8_t *key, uint8_t *iv, uint8_t *data, int len) { aes128(1, key, iv, data, len); }
void osdp_decrypt(uint8_t *key, uint8_t *iv, uint8_t *data, int len) { aes128(0, key, iv, data, len); }

void osdp_fill_random(uint8_t *buf, int len)
{
	if (RAND_bytes(buf, len) != 1) {
		// No randomness, no secure channel: a zero challenge would be the TinyAES flaw
		// again, so the failure is counted and the shim takes the bus down.
		memset(buf, 0, len);
		crypto_failures++;
	}
}

int wosdp_random(uint8_t *buf, int len) { return RAND_bytes(buf, len) == 1 ? 0 : -1; }
