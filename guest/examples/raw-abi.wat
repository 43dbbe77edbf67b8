;; The raw signerd extension ABI v1, written by hand.
;;
;; The host calls signer_alloc(len) to get a buffer, writes the request
;; JSON there, then calls signer_check(ptr, len). signer_check returns the
;; reply's address in the high 32 bits and its length in the low 32 bits.
;; This module allows a request when its JSON mentions the tenant "team-a"
;; and denies it otherwise; it searches the raw bytes for simplicity, where
;; a real module would parse the JSON.
(module
  (memory (export "memory") 2)

  ;; Replies, stored at fixed addresses.
  (data (i32.const 0) "{\"allow\":true,\"reasons\":[\"tenant is team-a\"]}")
  (data (i32.const 64) "{\"allow\":false,\"reasons\":[\"only team-a may sign\"]}")
  (data (i32.const 128) "\"tenant\":\"team-a\"")

  ;; Reactor initialisation: nothing to set up.
  (func (export "_initialize"))

  (func (export "signer_abi_version") (result i32) (i32.const 1))

  ;; The request always goes to the second page.
  (func (export "signer_alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 65536)) (then (return (i32.const 0))))
    (i32.const 65536))

  ;; pack(ptr, len) = ptr << 32 | len
  (func $pack (param $ptr i32) (param $len i32) (result i64)
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
      (i64.extend_i32_u (local.get $len))))

  ;; contains reports whether [ptr, ptr+len) contains the 17-byte needle at 128.
  (func $contains (param $ptr i32) (param $len i32) (result i32)
    (local $i i32) (local $j i32)
    (block $done
      (loop $outer
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 17)) (local.get $len)))
        (local.set $j (i32.const 0))
        (block $miss
          (loop $inner
            (br_if $miss (i32.ne
              (i32.load8_u (i32.add (local.get $ptr) (i32.add (local.get $i) (local.get $j))))
              (i32.load8_u (i32.add (i32.const 128) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br_if $inner (i32.lt_u (local.get $j) (i32.const 17))))
          (return (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (i32.const 0))

  (func (export "signer_check") (param $ptr i32) (param $len i32) (result i64)
    (if (result i64) (call $contains (local.get $ptr) (local.get $len))
      (then (call $pack (i32.const 0) (i32.const 45)))
      (else (call $pack (i32.const 64) (i32.const 50))))))
