(module
  (memory (export "memory") 2)
  (global $n (mut i32) (i32.const 0))
  (data (i32.const 0) "{\"allow\":true,\"reasons\":[\"call 0\"]}")
  (func (export "signer_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "_initialize"))
  (func (export "signer_abi_version") (result i32) (i32.const 1))
  (func (export "signer_check") (param i32 i32) (result i64)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (if (i32.eq (i32.load8_u (local.get 0)) (i32.const 84)) (then unreachable))
    ;; The digit after "call " is at offset 31.
    (i32.store8 (i32.const 31) (i32.add (i32.const 48) (global.get $n)))
    (i64.const 35)))
