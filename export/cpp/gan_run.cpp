// gan_run: runs an exported generator or discriminator from C++, with no Python in the process.
//
//   gan_run aoti        generator.aoti.pt2  plan.txt
//   gan_run torchscript generator.pt        plan.txt
//
// The plan (written by `gan verify --cpp`) lists cases, each its input tensors as raw files and
// where to write the outputs:
//   case <name> <n_inputs> <out_prefix>
//   <float32|int64> <ndim> <d0> ... <file>      (n_inputs lines)
// Each output i is written as <out_prefix>.<i>.bin (raw float32) and <out_prefix>.<i>.shape.
//
// Built against the torch wheel's own headers and libraries (no separate libtorch):
//   g++ -std=c++20 -O1 gan_run.cpp -I$TORCH/include -I$TORCH/include/torch/csrc/api/include \
//       -L$TORCH/lib -ltorch -ltorch_cpu -lc10 -Wl,-rpath,$TORCH/lib -o gan_run
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/script.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

at::Tensor read_tensor(const std::string& dtype, const std::vector<int64_t>& shape, const std::string& file) {
  auto type = dtype == "int64" ? at::kLong : at::kFloat;
  at::Tensor tensor = at::empty(shape, at::TensorOptions().dtype(type));
  std::ifstream in(file, std::ios::binary);
  in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(tensor.nbytes()));
  if (!in) throw std::runtime_error("cannot read " + file);
  return tensor;
}

void write_tensor(const at::Tensor& output, const std::string& prefix) {
  at::Tensor values = output.to(at::kCPU, at::kFloat).contiguous();
  std::ofstream bin(prefix + ".bin", std::ios::binary);
  bin.write(static_cast<const char*>(values.data_ptr()), static_cast<std::streamsize>(values.nbytes()));
  std::ofstream shape(prefix + ".shape");
  for (auto d : values.sizes()) shape << d << ' ';
  if (!bin || !shape) throw std::runtime_error("cannot write " + prefix);
}

std::vector<at::Tensor> as_tensors(const c10::IValue& result) {
  if (result.isTensor()) return {result.toTensor()};
  std::vector<at::Tensor> tensors;
  for (const auto& item : result.toTupleRef().elements()) tensors.push_back(item.toTensor());
  return tensors;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: gan_run aoti|torchscript MODEL_FILE PLAN\n";
    return 2;
  }
  const std::string kind = argv[1], model_file = argv[2];
  try {
    std::unique_ptr<torch::inductor::AOTIModelPackageLoader> package;
    torch::jit::Module module;
    if (kind == "aoti") {
      package = std::make_unique<torch::inductor::AOTIModelPackageLoader>(model_file);
    } else {
      module = torch::jit::load(model_file);
      module.eval();
    }
    std::ifstream plan(argv[3]);
    std::string word, name, prefix;
    int n_inputs = 0;
    while (plan >> word >> name >> n_inputs >> prefix) {
      std::vector<at::Tensor> inputs;
      for (int i = 0; i < n_inputs; ++i) {
        std::string dtype, file;
        int ndim = 0;
        plan >> dtype >> ndim;
        std::vector<int64_t> shape(ndim);
        for (auto& d : shape) plan >> d;
        plan >> file;
        inputs.push_back(read_tensor(dtype, shape, file));
      }
      c10::InferenceMode guard;
      std::vector<at::Tensor> outputs;
      if (package) {
        outputs = package->run(inputs);
      } else {
        outputs = as_tensors(module.forward(std::vector<c10::IValue>(inputs.begin(), inputs.end())));
      }
      for (size_t i = 0; i < outputs.size(); ++i) write_tensor(outputs[i], prefix + "." + std::to_string(i));
    }
  } catch (const std::exception& error) {
    std::string message = error.what();
    std::cerr << message.substr(0, message.find('\n')) << "\n";
    return 1;
  }
  return 0;
}
