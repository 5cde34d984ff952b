// Package openblas makes OpenBLAS, when the system has it, the BLAS behind
// gonum's matrix products (mat.Dense.Mul and everything built on it), loading
// it at run time: a build needs no BLAS, and a machine without OpenBLAS runs
// gonum's pure-Go kernels as before.
//
// Only Dgemm (matrix times matrix, the MLP head's training) is taken from
// OpenBLAS; every other routine stays gonum's. Results agree with gonum's to
// rounding (summation order differs); for a fixed number of threads OpenBLAS
// sums in a fixed order, so a seed's results repeat on a machine.
//
// Debian and Ubuntu: apt-get install libopenblas0-pthread (`make blas`).
// SER_BLAS=go keeps gonum's kernels even where OpenBLAS is installed.
package openblas

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

typedef void (*ser_dgemm_fn)(int, int, int, int, int, int, double, const double *, int,
	const double *, int, double, double *, int);
typedef void (*ser_threads_fn)(int);

static ser_dgemm_fn ser_dgemm_p;
static char *(*ser_corename_p)(void);

static int ser_openblas_open(const char *name, int threads) {
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) return 0;
	ser_dgemm_p = (ser_dgemm_fn)dlsym(h, "cblas_dgemm");
	ser_threads_fn set = (ser_threads_fn)dlsym(h, "openblas_set_num_threads");
	if (ser_dgemm_p == NULL || set == NULL) { ser_dgemm_p = NULL; return 0; }
	set(threads);
	ser_corename_p = (char *(*)(void))dlsym(h, "openblas_get_corename");
	return 1;
}

static const char *ser_openblas_corename(void) {
	return ser_corename_p == NULL ? "" : ser_corename_p();
}

// Row-major: 101; no transpose: 111, transpose: 112 (cblas.h).
static void ser_dgemm(int ta, int tb, int m, int n, int k, double alpha, const double *a, int lda,
	const double *b, int ldb, double beta, double *c, int ldc) {
	ser_dgemm_p(101, ta ? 112 : 111, tb ? 112 : 111, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
*/
import "C"

import (
	"os"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/cpu"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
)

// libraries are the names tried, in order (dlopen's search path).
var libraries = []string{"libopenblas.so.0", "libopenblas.so"}

// minWork is the size, m*n*k, below which gonum's kernels are kept: for small
// products the call into OpenBLAS and its threads cost more than they save.
const minWork = 32 * 32 * 32

var (
	once   sync.Once
	loaded string
)

// Use makes OpenBLAS gonum's Dgemm if it can be loaded (once per process;
// later calls return the first answer). It returns the library's name, or ""
// when gonum's kernels stay (none installed, or SER_BLAS=go).
func Use() string {
	once.Do(func() {
		if os.Getenv("SER_BLAS") == "go" {
			return
		}
		threads := C.int(runtime.GOMAXPROCS(0))
		if os.Getenv("OPENBLAS_CORETYPE") == "" {
			if ct := CoreType(); ct != "" {
				os.Setenv("OPENBLAS_CORETYPE", ct) // read by OpenBLAS as it loads
			}
		}
		for _, name := range libraries {
			cs := C.CString(name)
			ok := C.ser_openblas_open(cs, threads) == 1
			C.free(unsafe.Pointer(cs))
			if ok {
				loaded = name
				blas64.Use(Implementation{})
				return
			}
		}
	})
	return loaded
}

// CoreType is the OpenBLAS kernel family Use asks for (through
// OPENBLAS_CORETYPE, unless that is set already) from the instructions this
// CPU and its operating system support: "SkylakeX" with AVX-512, "Haswell"
// with AVX2 and FMA, else "" (OpenBLAS's own detection). OpenBLAS detects by
// CPU model, and a model newer than its release is taken for the oldest
// kernels: Debian 12's OpenBLAS 0.3.21 runs "Prescott" (SSE3) kernels on Xeon
// processors of family 6 model 207, several times slower than "SkylakeX".
func CoreType() string {
	switch {
	case cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512CD:
		return "SkylakeX"
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		return "Haswell"
	}
	return ""
}

// Core is the kernel family OpenBLAS runs (openblas_get_corename), or "" when
// it is not loaded.
func Core() string {
	if Use() == "" {
		return ""
	}
	return C.GoString(C.ser_openblas_corename())
}

// Implementation is gonum's BLAS with Dgemm from OpenBLAS. Use it only after
// Use has returned a library.
type Implementation struct{ gonum.Implementation }

// Dgemm computes C = alpha * op(A) * op(B) + beta * C, row-major, as gonum's
// does, with OpenBLAS for products of at least minWork multiply-adds. A call
// whose sizes, strides or slice lengths do not fit goes to gonum, which
// panics in Go with its message: nothing out of bounds reaches C.
func (impl Implementation) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m*n*k < minWork || !fits(tA, m, k, a, lda) || !fits(tB, k, n, b, ldb) || !fits(blas.NoTrans, m, n, c, ldc) {
		impl.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	C.ser_dgemm(trans(tA), trans(tB), C.int(m), C.int(n), C.int(k), C.double(alpha),
		(*C.double)(unsafe.Pointer(&a[0])), C.int(lda), (*C.double)(unsafe.Pointer(&b[0])), C.int(ldb),
		C.double(beta), (*C.double)(unsafe.Pointer(&c[0])), C.int(ldc))
}

// fits reports whether a holds op(X), rows x cols, row-major with stride ld,
// and every size fits a C int.
func fits(t blas.Transpose, rows, cols int, a []float64, ld int) bool {
	if t != blas.NoTrans {
		if t != blas.Trans && t != blas.ConjTrans {
			return false
		}
		rows, cols = cols, rows
	}
	const maxC = 1<<31 - 1
	if rows <= 0 || cols <= 0 || ld < cols || rows > maxC || cols > maxC || ld > maxC {
		return false
	}
	return len(a) >= (rows-1)*ld+cols
}

func trans(t blas.Transpose) C.int {
	if t == blas.NoTrans {
		return 0
	}
	return 1
}
