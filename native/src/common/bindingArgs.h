// Argument checks shared by the N-API bindings (crypto, demux, parse), in the
// way better-sqlite3 keeps one set of argument macros for all of its classes:
// each binding converts its arguments with these, so a wrong type or an
// out-of-bounds batch is refused with the same words everywhere, naming the
// argument by position and name ("argument 2 (offsets) must be a Uint32Array,
// got a number"), before any plain C++ runs.
//
// Every check throws a JavaScript exception and returns false; callers return
// undefined at once (the addon is built without C++ exceptions). Type errors
// are TypeErrors; a value of the right type but out of range is a RangeError.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace pcloud::binding {

inline bool Fail(Napi::Env env, const std::string& message) {
  Napi::RangeError::New(env, message).ThrowAsJavaScriptException();
  return false;
}

inline bool FailType(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return false;
}

// "argument 2 (offsets)": how every message names what was wrong.
inline std::string Argument(size_t index, const char* name) {
  return "argument " + std::to_string(index + 1) + " (" + name + ")";
}

inline const char* TypeOf(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "a boolean";
    case napi_number: return "a number";
    case napi_string: return "a string";
    case napi_bigint: return "a bigint";
    case napi_external: return "a handle";
    case napi_function: return "a function";
    default: return v.IsTypedArray() ? "another typed array" : "an object";
  }
}

// The typed array that carries elements of T.
template <typename T> struct ArrayOf;
template <> struct ArrayOf<uint8_t> {
  static constexpr napi_typedarray_type kType = napi_uint8_array;
  static constexpr const char* kName = "Uint8Array (or Buffer)";
};
template <> struct ArrayOf<uint32_t> {
  static constexpr napi_typedarray_type kType = napi_uint32_array;
  static constexpr const char* kName = "Uint32Array";
};
template <> struct ArrayOf<int32_t> {
  static constexpr napi_typedarray_type kType = napi_int32_array;
  static constexpr const char* kName = "Int32Array";
};
template <> struct ArrayOf<double> {
  static constexpr napi_typedarray_type kType = napi_float64_array;
  static constexpr const char* kName = "Float64Array";
};

// A typed array's elements, borrowed for the duration of one call.
template <typename T>
struct View {
  T* data = nullptr;
  size_t length = 0;
};

// Whether `v` is a typed array of `type`; if so, its elements. One
// napi_get_typedarray_info gives the type, the length and the data already
// at the view's byte offset (null when empty or detached); going through
// Napi::TypedArray (its type, the object, its ArrayBuffer, that buffer's data
// and the view's offset) took five such calls per argument, and with the
// seven typed arrays of a demux batch that was most of a 1.2 us call: 4-5 ns a
// frame in batches of 256.
template <typename T>
bool TypedArrayData(napi_env env, napi_value v, napi_typedarray_type type, T*& data, size_t& length) {
  bool isTypedArray = false;
  napi_typedarray_type actual;
  void* raw = nullptr;
  if (napi_is_typedarray(env, v, &isTypedArray) != napi_ok || !isTypedArray ||
      napi_get_typedarray_info(env, v, &actual, &length, &raw, nullptr, nullptr) != napi_ok || actual != type) {
    return false;
  }
  data = static_cast<T*>(raw);
  return true;
}

template <typename T>
bool TypedArrayArg(const Napi::CallbackInfo& info, size_t index, const char* name, View<T>& out) {
  const Napi::Value v = info[index];
  if (!TypedArrayData(info.Env(), v, ArrayOf<T>::kType, out.data, out.length)) {
    return FailType(info.Env(), Argument(index, name) + " must be a " + ArrayOf<T>::kName + ", got " + TypeOf(v));
  }
  return true;
}

// A per-packet array: exactly one entry per packet of the batch.
template <typename T>
bool BatchArrayArg(const Napi::CallbackInfo& info, size_t index, const char* name, size_t packets, View<T>& out) {
  if (!TypedArrayArg(info, index, name, out)) return false;
  if (out.length != packets) {
    return Fail(info.Env(), std::string(name) + " has " + std::to_string(out.length) + " entries but the batch has " +
                                std::to_string(packets) + " packets");
  }
  return true;
}

template <typename T>
bool BatchArrayArg(const Napi::CallbackInfo& info, size_t index, const char* name, size_t packets, T*& out) {
  View<T> view;
  if (!BatchArrayArg(info, index, name, packets, view)) return false;
  out = view.data;
  return true;
}

inline bool UintArg(const Napi::CallbackInfo& info, size_t index, const char* name, uint32_t& out) {
  const Napi::Value v = info[index];
  if (!v.IsNumber()) return FailType(info.Env(), Argument(index, name) + " must be a number, got " + TypeOf(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    return Fail(info.Env(), Argument(index, name) + " must be an integer in 0..2^32-1, got " + std::to_string(d));
  }
  out = static_cast<uint32_t>(d);
  return true;
}

inline bool StringArg(const Napi::CallbackInfo& info, size_t index, const char* name, std::string& out) {
  const Napi::Value v = info[index];
  if (!v.IsString()) return FailType(info.Env(), Argument(index, name) + " must be a string, got " + TypeOf(v));
  out = v.As<Napi::String>().Utf8Value();
  return true;
}

// A batch's regions [offsets[i], offsets[i] + size(i)) must each lie inside a
// buffer of `limit` bytes before any byte of it is touched. `item` names one
// region ("packet", "frame"), `buffer` the array it lives in.
template <typename SizeOf>
bool RegionsInside(Napi::Env env, const char* item, const char* buffer, const uint32_t* offsets, size_t count,
                   size_t limit, SizeOf size) {
  for (size_t i = 0; i < count; ++i) {
    const uint64_t end = uint64_t{offsets[i]} + size(i);
    if (end > limit) {
      return Fail(env, std::string(item) + " " + std::to_string(i) + " at offset " + std::to_string(offsets[i]) +
                           " needs " + std::to_string(size(i)) + " bytes of " + buffer + " (up to byte " +
                           std::to_string(end) + ") but " + buffer + " has " + std::to_string(limit));
    }
  }
  return true;
}

}  // namespace pcloud::binding
