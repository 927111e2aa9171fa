#include "common/learn/label_shift.h"

#include "common/learn/moe_serving.h"

namespace fedjets::common {

torch::Tensor LabelShiftPredictions(const torch::Tensor& logits) {
  torch::NoGradGuard no_grad;
  const torch::Tensor train = UniformPrior(logits.size(1));
  const EmPrior em = EstimatePrior(torch::softmax(logits, /*dim=*/1), train);
  const torch::Tensor shift =
      torch::log(em.prior.clamp_min(1e-12) / train).to(logits.scalar_type());
  return (logits + shift).argmax(/*dim=*/1);
}

}  // namespace fedjets::common
