// Label-shift correction of one client's predictions (Saerens, Latinne and
// Decaestecker 2002), the zero-shot baseline FedAvg and FedProx get beside
// FedJETs' client-aware serving (issue #14): no label, no gradient step.
#pragma once

#include <torch/torch.h>

namespace fedjets::common {

// Classes for `logits` [N, C] of one client's unlabelled samples,
// corrected for that client's class prior: the prior is estimated by EM
// (EstimatePrior, common/learn/moe_serving.h) from softmax(logits), taken
// under a uniform training prior (our choice: the federation's training
// data is about class-balanced), and each sample's logits get
// log(prior / uniform) added before the argmax. [N] int64.
torch::Tensor LabelShiftPredictions(const torch::Tensor& logits);

}  // namespace fedjets::common
