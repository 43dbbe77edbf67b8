;; Logs the same line 100 times per check, then allows.
(module
  (import "signer" "log" (func $log (param i32 i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "{\"allow\":true,\"reasons\":[\"ok\"]}")
  (data (i32.const 64) "hello from the guest")
  (func (export "signer_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "_initialize"))
  (func (export "signer_abi_version") (result i32) (i32.const 1))
  (func (export "signer_check") (param i32 i32) (result i64)
    (local $i i32)
    (loop $l
      (call $log (i32.const 64) (i32.const 20))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))
    (i64.const 31)))
