;; A WebAssembly kernel: how many primes lie in [lo, hi), by trial division with 6k ± 1 candidates.
(module
  (func $is_prime (param $n i32) (result i32)
    (local $d i32)
    (if (i32.lt_u (local.get $n) (i32.const 2)) (then (return (i32.const 0))))
    (if (i32.lt_u (local.get $n) (i32.const 4)) (then (return (i32.const 1))))
    (if (i32.eqz (i32.rem_u (local.get $n) (i32.const 2))) (then (return (i32.const 0))))
    (if (i32.eqz (i32.rem_u (local.get $n) (i32.const 3))) (then (return (i32.const 0))))
    (local.set $d (i32.const 5))
    (block $done
      (loop $next
        ;; d * d > n: no divisor left (d stays below 2^16 for n < 2^31, so d * d does not overflow)
        (br_if $done (i32.gt_u (i32.mul (local.get $d) (local.get $d)) (local.get $n)))
        (if (i32.eqz (i32.rem_u (local.get $n) (local.get $d))) (then (return (i32.const 0))))
        (if (i32.eqz (i32.rem_u (local.get $n) (i32.add (local.get $d) (i32.const 2)))) (then (return (i32.const 0))))
        (local.set $d (i32.add (local.get $d) (i32.const 6)))
        (br $next)))
    (i32.const 1))

  (func (export "count") (param $lo i32) (param $hi i32) (result i32)
    (local $n i32)
    (local $found i32)
    (local.set $n (local.get $lo))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $n) (local.get $hi)))
        (local.set $found (i32.add (local.get $found) (call $is_prime (local.get $n))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $found)))
