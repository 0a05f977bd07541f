// The operations tests send, as the text a client sends: printed once from the typed
// documents that codegen.ts generates from test/operations/*.graphql, so that no operation
// is written out in two test files.
import { print } from 'graphql';
import {
  CreateSaleEventDocument,
  CreateSaleTierDocument,
  HoldDocument,
  LogInAccountDocument,
  PublishSaleEventDocument,
  PurchaseDocument,
  SignUpAccountDocument,
} from './generated/operations.ts';

export type { PurchaseMutation } from './generated/operations.ts';

export const purchaseMutation = print(PurchaseDocument);
export const holdMutation = print(HoldDocument);
export const createSaleEventMutation = print(CreateSaleEventDocument);
export const createSaleTierMutation = print(CreateSaleTierDocument);
export const publishSaleEventMutation = print(PublishSaleEventDocument);
export const signUpMutation = print(SignUpAccountDocument);
export const logInMutation = print(LogInAccountDocument);
