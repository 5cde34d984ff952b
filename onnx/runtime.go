// Package onnx runs backbones: an ONNX graph through ONNX Runtime
// (github.com/yalue/onnxruntime_go) on the CPU or on CUDA, fed by the
// backbone's tokenizer, returning one float32 feature vector per text.
//
// A Session wraps one ONNX Runtime session and knows the graph's input kind
// (USE-lite's sparse ids, or the input_ids / attention_mask of Hugging Face
// and torch.onnx exports) and pooling; a Backbone owns a tokenizer and several
// sessions, sorts texts by length so that padding does not dominate, and runs
// the batches in parallel.
package onnx

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

var (
	initMu   sync.Mutex
	initPath string
)

// Init loads the ONNX Runtime shared library; it is called once per process
// (later calls with the same path do nothing).
func Init(libPath string) error {
	initMu.Lock()
	defer initMu.Unlock()
	if ort.IsInitialized() {
		if libPath != initPath {
			return fmt.Errorf("onnx: runtime already loaded from %s, cannot switch to %s", initPath, libPath)
		}
		return nil
	}
	if libPath == "" {
		return fmt.Errorf("onnx: no ONNX Runtime library given")
	}
	if fi, err := os.Stat(libPath); err != nil {
		return fmt.Errorf("onnx: ONNX Runtime library: %w", err)
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("onnx: ONNX Runtime library %s: not a regular file", libPath)
	}
	ort.SetSharedLibraryPath(libPath)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("onnx: load %s: %w", libPath, err)
	}
	initPath = libPath
	return nil
}

// Device is where a session runs.
type Device struct {
	CUDA bool
	ID   int // the CUDA device
}

func (d Device) String() string {
	if d.CUDA {
		return "cuda:" + strconv.Itoa(d.ID)
	}
	return "cpu"
}

// ParseDevice reads "cpu", "cuda" or "cuda:N".
func ParseDevice(s string) (Device, error) {
	switch {
	case s == "" || s == "cpu":
		return Device{}, nil
	case s == "cuda":
		return Device{CUDA: true}, nil
	case strings.HasPrefix(s, "cuda:"):
		n, err := strconv.Atoi(s[len("cuda:"):])
		if err != nil || n < 0 {
			return Device{}, fmt.Errorf("device %q: want cpu, cuda or cuda:N", s)
		}
		return Device{CUDA: true, ID: n}, nil
	}
	return Device{}, fmt.Errorf("device %q: want cpu, cuda or cuda:N", s)
}

func sessionOptions(dev Device, threads int) (*ort.SessionOptions, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	if threads > 0 {
		if err := so.SetIntraOpNumThreads(threads); err != nil {
			so.Destroy()
			return nil, err
		}
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		so.Destroy()
		return nil, err
	}
	if dev.CUDA {
		cu, err := ort.NewCUDAProviderOptions()
		if err != nil {
			so.Destroy()
			return nil, cudaError(err)
		}
		defer cu.Destroy()
		if err := cu.Update(map[string]string{"device_id": strconv.Itoa(dev.ID)}); err != nil {
			so.Destroy()
			return nil, cudaError(err)
		}
		if err := so.AppendExecutionProviderCUDA(cu); err != nil {
			so.Destroy()
			return nil, cudaError(err)
		}
	}
	return so, nil
}

func cudaError(err error) error {
	return fmt.Errorf("onnx: device cuda: the ONNX Runtime library %s cannot use CUDA here (%v); a CUDA-capable core with libonnxruntime_providers_cuda.so beside it, and the CUDA 12/13 and cuDNN 9 libraries on LD_LIBRARY_PATH, are needed (see ../shared/gpu)", initPath, err)
}
