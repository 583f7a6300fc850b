// The one place that talks to V8 directly. Node-API's external ArrayBuffer runs
// its finalizer from a later event-loop turn, so a synchronous loop that
// attaches and forgets segments would exhaust the process's mappings before any
// of them were released. A V8 backing-store deleter runs as soon as V8 frees the
// memory, during GC, which keeps the number of live mappings bounded.
#include "shim.h"
#include <cstring>
#include <v8.h>

namespace shmkit {
namespace {

v8::Local<v8::Value> ToV8(napi_value v) {
  v8::Local<v8::Value> local;
  static_assert(sizeof(local) == sizeof(v), "napi_value is a v8::Local");
  std::memcpy(static_cast<void*>(&local), &v, sizeof(v));
  return local;
}

napi_value FromV8(v8::Local<v8::Value> local) {
  napi_value v;
  std::memcpy(&v, static_cast<void*>(&local), sizeof(v));
  return v;
}

}  // namespace

Napi::Value NewExternalArrayBuffer(Napi::Env env, void* data, size_t length, FreeCallback on_free, void* hint) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::EscapableHandleScope scope(isolate);
  std::shared_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(data, length, on_free, hint);
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, std::move(store));
  return Napi::Value(env, FromV8(scope.Escape(buffer)));
}

// A buffer transferred away (postMessage, structuredClone) is already detached
// here while its memory lives on elsewhere: report that, so the caller leaves
// the mapping to the backing store's deleter instead of unmapping it.
bool HoldsMemory(Napi::Env env, Napi::Value value) {
  v8::Local<v8::Value> local = ToV8(value);
  return local->IsArrayBuffer() && !local.As<v8::ArrayBuffer>()->WasDetached();
}

void DetachExternal(Napi::Env env, Napi::Value value) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::HandleScope scope(isolate);
  v8::Local<v8::Value> local = ToV8(value);
  if (local->IsArrayBuffer()) local.As<v8::ArrayBuffer>()->Detach(v8::Local<v8::Value>()).FromMaybe(false);
}

}  // namespace shmkit
