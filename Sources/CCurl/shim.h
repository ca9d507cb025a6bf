// libcurl's options and info calls are variadic, which Swift cannot call: these typed
// inline wrappers are the whole of the surface Warden uses (the fleet link's HTTPS).
#ifndef WARDEN_CCURL_SHIM_H
#define WARDEN_CCURL_SHIM_H
#include <curl/curl.h>

typedef size_t (*warden_curl_write_fn)(char *ptr, size_t size, size_t nmemb, void *userdata);

static inline CURLcode warden_curl_set_long(CURL *c, CURLoption o, long v) { return curl_easy_setopt(c, o, v); }
static inline CURLcode warden_curl_set_string(CURL *c, CURLoption o, const char *v) { return curl_easy_setopt(c, o, v); }
static inline CURLcode warden_curl_set_pointer(CURL *c, CURLoption o, void *v) { return curl_easy_setopt(c, o, v); }
static inline CURLcode warden_curl_set_write(CURL *c, warden_curl_write_fn f, void *userdata) {
    CURLcode r = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, f);
    return r != CURLE_OK ? r : curl_easy_setopt(c, CURLOPT_WRITEDATA, userdata);
}
static inline CURLcode warden_curl_set_header(CURL *c, warden_curl_write_fn f, void *userdata) {
    CURLcode r = curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, f);
    return r != CURLE_OK ? r : curl_easy_setopt(c, CURLOPT_HEADERDATA, userdata);
}
/// A PEM held in memory (certificate, key or CA), copied by libcurl.
static inline CURLcode warden_curl_set_blob(CURL *c, CURLoption o, const void *data, size_t len) {
    struct curl_blob b = { (void *)data, len, CURL_BLOB_COPY };
    return curl_easy_setopt(c, o, &b);
}
static inline long warden_curl_response_code(CURL *c) {
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return code;
}
#endif
